"""The client-side family: AES-256-GCM in the application, one random nonce per value.

``EncryptedText``, ``EncryptedBytes``, ``EncryptedJSON``, ``EncryptedInteger``,
``EncryptedFloat``, ``EncryptedNumeric``, ``EncryptedBoolean``, ``EncryptedDate``,
``EncryptedDateTime``, ``EncryptedTime``, ``EncryptedUUID``: each value is stored as an AEAD
envelope (``hardening.crypto.envelope``, format 3, or 4 when bound to its row) in a ``bytea``
column, under the column's own key (derived from the keyring key and the column's schema,
table and name), with the column's context and the envelope header as associated data: a
value copied to another column, table or schema, or with its key id changed, does not
decrypt. The database never sees a key or a plaintext.

What is encrypted is a payload (``hardening.crypto.payload``): fixed-size types in a
fixed-width form (``hardening.crypto.codecs``), so every value of such a column has the same
length; text, bytes, JSON and numeric values in their text form, padded when the column asks
for it (``padding=``). Values written in the first format (1) keep reading.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from hardening.crypto import codecs
from hardening.crypto.aead_base import EncryptedType
from hardening.crypto.canonical import (
    decimal_form,
    float_form,
    json_form,
    time_form,
    timestamp_form,
)
from hardening.crypto.codecs import BytesValues, TextValues

__all__ = [
    "EncryptedBoolean",
    "EncryptedBytes",
    "EncryptedDate",
    "EncryptedDateTime",
    "EncryptedFloat",
    "EncryptedInteger",
    "EncryptedJSON",
    "EncryptedNumeric",
    "EncryptedText",
    "EncryptedTime",
    "EncryptedType",
    "EncryptedUUID",
]

T = TypeVar("T")


class EncryptedText(TextValues, EncryptedType[str]):
    """A ``str``, stored as UTF-8 (padded when asked). Arguments: ``EncryptedType``.

    Example::

        name: Mapped[str] = mapped_column(EncryptedText())
    """

    cache_ok = True


class EncryptedBytes(BytesValues, EncryptedType[bytes]):
    """``bytes``, stored as they are (padded when asked). Arguments: ``EncryptedType``.

    Example::

        photo: Mapped[bytes | None] = mapped_column(EncryptedBytes())
    """

    cache_ok = True


class EncryptedJSON(EncryptedType[Any]):
    """Any JSON-serialisable value; stored as compact UTF-8 JSON (padded when asked).
    Arguments: ``EncryptedType``.

    Example::

        prefs: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON(padding="padme"))
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @staticmethod
    def from_bytes(data: bytes) -> Any:
        return json.loads(data)

    index_bytes = staticmethod(json_form)  # keys sorted, numbers by value

    def _python_type_name(self) -> str:
        return "a JSON-serialisable value"


class EncryptedInteger(EncryptedType[int]):
    """An ``int``, stored in 8 bytes (two's complement; an int beyond 64 bits in as many
    bytes as it needs). Arguments: ``EncryptedType``.

    Example::

        salary: Mapped[int] = mapped_column(EncryptedInteger())
    """

    cache_ok = True
    codec = codecs.INTEGER
    to_bytes = staticmethod(codecs.int_text)
    from_bytes = staticmethod(codecs.int_parse)

    @property
    def python_type(self) -> type[int]:
        return int


class EncryptedFloat(EncryptedType[float]):
    """A ``float``, stored in 8 bytes (IEEE 754 binary64). Arguments: ``EncryptedType``.

    Example::

        score: Mapped[float] = mapped_column(EncryptedFloat())
    """

    cache_ok = True
    codec = codecs.FLOAT
    to_bytes = staticmethod(codecs.float_text)
    from_bytes = staticmethod(codecs.float_parse)

    index_bytes = staticmethod(float_form)  # -0.0 as 0.0


class EncryptedNumeric(EncryptedType[Decimal]):
    """A ``Decimal``, stored as its text (its exponent kept: ``12.3400`` stays ``12.3400``;
    padded when asked). Arguments: ``EncryptedType``.

    Example::

        balance: Mapped[Decimal] = mapped_column(EncryptedNumeric(padding=32))
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: Decimal) -> bytes:
        return str(Decimal(value)).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> Decimal:
        return Decimal(data.decode("ascii"))

    index_bytes = staticmethod(decimal_form)  # 1.10 as 1.1


class EncryptedBoolean(EncryptedType[bool]):
    """A ``bool``, stored in 1 byte (values of the first format, ``true`` / ``false``, read
    too). Arguments: ``EncryptedType``.

    Example::

        opted_in: Mapped[bool] = mapped_column(EncryptedBoolean())
    """

    cache_ok = True
    codec = codecs.BOOLEAN
    to_bytes = staticmethod(codecs.bool_text)
    from_bytes = staticmethod(codecs.bool_parse)


class _IsoFormat(EncryptedType[T]):
    """Dates and times: a fixed-width form; ISO 8601 as the text form (the text PostgreSQL
    prints for them, too)."""

    iso_type: ClassVar[type[Any]]
    cache_ok = True

    def to_bytes(self, value: Any) -> bytes:
        encoded: bytes = self._checked(value).isoformat().encode("ascii")
        return encoded

    def _checked(self, value: Any) -> Any:
        if type(value) is not self.iso_type and not (
            self.iso_type is dt.datetime and isinstance(value, dt.datetime)
        ):
            raise TypeError
        return value

    def from_bytes(self, data: bytes) -> Any:
        return self.iso_type.fromisoformat(data.decode("ascii"))

    @property
    def python_type(self) -> type[Any]:
        return self.iso_type


class EncryptedDate(_IsoFormat[dt.date]):
    """A ``date``, stored in 4 bytes. Arguments: ``EncryptedType``.

    Example::

        birthday: Mapped[dt.date] = mapped_column(EncryptedDate())
    """

    cache_ok = True
    iso_type = dt.date
    codec = codecs.DATE


class EncryptedDateTime(_IsoFormat[dt.datetime]):
    """A ``datetime`` (naive or aware, its UTC offset kept as given), stored in 16 bytes.
    Arguments: ``EncryptedType``.

    Example::

        seen_at: Mapped[dt.datetime] = mapped_column(EncryptedDateTime())
    """

    cache_ok = True
    iso_type = dt.datetime
    codec = codecs.DATETIME

    def index_bytes(self, value: Any) -> bytes:
        return timestamp_form(self._checked(value))  # an aware one as the instant in UTC


class EncryptedTime(_IsoFormat[dt.time]):
    """A ``time`` (naive or with a UTC offset), stored in 16 bytes. Arguments:
    ``EncryptedType``.

    Example::

        wake_up: Mapped[dt.time] = mapped_column(EncryptedTime())
    """

    cache_ok = True
    iso_type = dt.time
    codec = codecs.TIME

    def index_bytes(self, value: Any) -> bytes:
        return time_form(self._checked(value))  # an aware one in UTC


class EncryptedUUID(EncryptedType[uuid.UUID]):
    """A ``UUID``, stored in its 16 bytes. Arguments: ``EncryptedType``.

    Example::

        token: Mapped[uuid.UUID] = mapped_column(EncryptedUUID())
    """

    cache_ok = True
    codec = codecs.UUID
    to_bytes = staticmethod(codecs.uuid_text)
    from_bytes = staticmethod(codecs.uuid_parse)
