"""The client-side family: AES-256-GCM in the application, one random nonce per value.

``EncryptedText``, ``EncryptedBytes``, ``EncryptedJSON``, ``EncryptedInteger``,
``EncryptedFloat``, ``EncryptedNumeric``, ``EncryptedBoolean``, ``EncryptedDate``,
``EncryptedDateTime``, ``EncryptedTime``, ``EncryptedUUID``: each value is stored as the AEAD
envelope of ``hardening.crypto.envelope`` in a ``bytea`` column; the associated data is
``table.column`` plus the envelope header, so a value copied to another column, or with its
key id changed, does not decrypt. The database never sees a key or a plaintext.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from sqlalchemy.engine import Dialect

from hardening.crypto.base import EncryptedBase
from hardening.crypto.canonical import (
    decimal_form,
    float_form,
    json_form,
    time_form,
    timestamp_form,
)
from hardening.crypto.codecs import BytesValues, TextValues, text_from_bytes
from hardening.crypto.envelope import AEAD_V1, decode, split_header
from hardening.crypto.keys import KeyHook, KeySource
from hardening.crypto.nonces import nonce12
from hardening.crypto.redacted import sealed
from hardening.errors import DecryptionError, EnvelopeError, KeyNotFoundError

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


class EncryptedType(EncryptedBase[T]):
    """AES-256-GCM in the application (see the module docstring).

    ``legacy_plaintext=True`` is for the transition of ``op.encrypt_column``, when some rows
    still hold plaintext. A stored value is read as an envelope when it starts with an AEAD
    header (``0x01``, a key-id length of 1 to 64, a key id of ``A-Z a-z 0-9 _ . -``) and
    either its key id is in the keyring (after a reload) or it is complete (at least a 12-byte
    nonce and a 16-byte tag after the header). An envelope decrypts or raises, exactly as
    without the flag: ``KeyNotFoundError`` naming the key id when the keyring lacks it,
    ``DecryptionError`` when it fails authentication or, under a known key id, is truncated.
    Every other value (no AEAD header, a pgcrypto envelope, or a header under an unknown key
    id too short to hold nonce and tag) is returned as plaintext. A key removed from the
    keyring too early is therefore an error, never ciphertext read as data; the price is that
    a plaintext which happens to be a complete envelope under an unknown key id is an error
    too. Neither error holds a key or the value.

    Args:
        context: what the ciphertext is bound to; by default ``table.column`` of the column
            the type is attached to (give the old one after renaming the table or column).
        keys: the column's own keys (a hook, a ``Keyring``, a spec string, a mapping or
            pairs); None uses the process-wide keyring.
        legacy_plaintext: read a value that is no AEAD envelope as plaintext (above).

    Example::

        ssn: Mapped[str] = mapped_column(EncryptedText())
        ssn: Mapped[str] = mapped_column(EncryptedText(legacy_plaintext=True))  # while converting
    """

    def __init__(
        self,
        context: str | None = None,
        keys: KeyHook | KeySource | None = None,
        legacy_plaintext: bool = False,
    ) -> None:
        keys = sealed(keys)  # no frame of a failed parse shows the other keys
        super().__init__(context, keys)
        self.legacy_plaintext = legacy_plaintext

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], bytes | None]:
        cipher = self.cipher
        to_bytes = self.to_bytes
        encode = self._encode

        def process(value: Any) -> bytes | None:
            if value is None:
                return None
            try:
                data: bytes | None = to_bytes(value)
            except Exception:
                data = None
            if data is None:
                data = encode(value)  # raises the error that names the column
            head, aead, ad = cipher._enc or cipher._prepare_encrypt()
            nonce = nonce12()
            return head + nonce + aead.encrypt(nonce, data, ad)

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        # The hot path of every SELECT: one dict lookup by envelope header, one AES-GCM call,
        # no per-row key work; anything unusual (new key id, damage) takes decrypt_slow.
        cipher = self.cipher
        cache = cipher._dec
        slow = (
            self._lenient(cipher._decrypt_slow) if self.legacy_plaintext else cipher._decrypt_slow
        )
        from_bytes = self.from_bytes

        if from_bytes is text_from_bytes:
            # Errors are raised after the except blocks, so none keeps the fast path's error
            # (a KeyError holding the first bytes of a legacy plaintext) or the parser's
            # (a UnicodeDecodeError holding the plaintext) as its __context__.
            def process_text(value: bytes | None) -> Any:
                if value is None:
                    return None
                try:
                    end = value[1] + 2
                    open_, ad = cache[value[:end]]
                    return open_(value[end : end + 12], value[end + 12 :], ad).decode()
                except Exception:  # noqa: S110 - slow path below, outside it
                    pass
                data = slow(value)
                try:
                    return data.decode()
                except UnicodeDecodeError:  # raised below, outside the block
                    pass
                raise self._unreadable(value)

            return process_text

        def process(value: bytes | None) -> Any:
            if value is None:
                return None
            data: bytes | None
            try:
                end = value[1] + 2
                open_, ad = cache[value[:end]]
                data = open_(value[end : end + 12], value[end + 12 :], ad)
            except Exception:
                data = None
            if data is None:
                data = slow(value)
            try:
                return from_bytes(data)
            except Exception:  # noqa: S110 - raised below, outside it
                pass
            raise self._unreadable(value)

        return process

    def _unreadable(self, value: bytes) -> DecryptionError:
        """The error for bytes that decrypt (or are legacy plaintext) but do not parse as the
        column's type. The parser's own error would quote them (``int()``, ``fromisoformat``,
        ``json`` all do), so it is replaced, never chained: raise this outside the ``except``
        block, or it keeps the parser's error as ``__context__``."""
        try:
            kid: str | None = split_header(value)[1]
        except EnvelopeError:
            kid = None
        return DecryptionError(
            self.cipher.name,
            kid,
            f"the stored value is not {self._python_type_name()} as "
            f"{type(self).__name__} (written by another type, or legacy plaintext in another "
            "format)",
        )

    def _lenient(self, decrypt: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        def read(value: bytes) -> bytes:
            try:
                return decrypt(value)
            except KeyNotFoundError:
                if _complete_aead(value):
                    raise  # a real envelope whose key is gone: its bytes are no plaintext
                return bytes(value)
            except DecryptionError as exc:
                if exc.key_id is None:
                    return bytes(value)
                raise

        return read

    def encrypt(self, value: T) -> bytes:
        """The envelope that would be stored for ``value`` (for tools and tests).

        Args:
            value: a value of the column's Python type.

        Example::

            EncryptedText(context="users.ssn").encrypt("123-45-6789")
        """
        return self.cipher.encrypt(self._encode(value))

    def decrypt(self, envelope: bytes) -> T:
        """The value of a stored envelope (for tools and tests).

        Args:
            envelope: the stored bytes.

        Example::

            EncryptedText(context="users.ssn").decrypt(stored)    # '123-45-6789'
        """
        data = self.cipher.decrypt(envelope)
        try:
            result: T = self.from_bytes(data)
            return result
        except Exception:  # noqa: S110 - raised below, outside it
            pass
        raise self._unreadable(envelope)


def _complete_aead(value: bytes) -> bool:
    """True when ``value`` parses as a whole AEAD envelope: header, nonce and tag."""
    try:
        return decode(value).version == AEAD_V1
    except EnvelopeError:
        return False


class EncryptedText(TextValues, EncryptedType[str]):
    """A ``str``, stored as UTF-8. Arguments: ``EncryptedType``.

    Example::

        name: Mapped[str] = mapped_column(EncryptedText())
    """

    cache_ok = True


class EncryptedBytes(BytesValues, EncryptedType[bytes]):
    """``bytes``, stored as they are. Arguments: ``EncryptedType``.

    Example::

        photo: Mapped[bytes | None] = mapped_column(EncryptedBytes())
    """

    cache_ok = True


class EncryptedJSON(EncryptedType[Any]):
    """Any JSON-serialisable value; stored as compact UTF-8 JSON. Arguments: ``EncryptedType``.

    Example::

        prefs: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
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
    """An ``int`` (any size), stored as its decimal text. Arguments: ``EncryptedType``.

    Example::

        salary: Mapped[int] = mapped_column(EncryptedInteger())
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: int) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return str(value).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> int:
        return int(data)

    @property
    def python_type(self) -> type[int]:
        return int


class EncryptedFloat(EncryptedType[float]):
    """A ``float``, stored as its ``repr`` (round trips exactly). Arguments: ``EncryptedType``.

    Example::

        score: Mapped[float] = mapped_column(EncryptedFloat())
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: float) -> bytes:
        return repr(float(value)).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> float:
        return float(data)

    index_bytes = staticmethod(float_form)  # -0.0 as 0.0


class EncryptedNumeric(EncryptedType[Decimal]):
    """A ``Decimal``, stored as its text (its exponent kept: ``12.3400`` stays ``12.3400``).
    Arguments: ``EncryptedType``.

    Example::

        balance: Mapped[Decimal] = mapped_column(EncryptedNumeric())
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: Decimal) -> bytes:
        return str(Decimal(value)).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> Decimal:
        return Decimal(data.decode("ascii"))

    index_bytes = staticmethod(decimal_form)  # 1.10 as 1.1


_BOOLEANS = {b"true": True, b"t": True, b"false": False, b"f": False}


class EncryptedBoolean(EncryptedType[bool]):
    """A ``bool``, stored as ``true`` / ``false`` (``t`` / ``f`` read too). Arguments:
    ``EncryptedType``.

    Example::

        opted_in: Mapped[bool] = mapped_column(EncryptedBoolean())
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: bool) -> bytes:
        if not isinstance(value, bool):
            raise TypeError
        return b"true" if value else b"false"

    @staticmethod
    def from_bytes(data: bytes) -> bool:
        return _BOOLEANS[data]


class _IsoFormat(EncryptedType[T]):
    """Dates and times in ISO 8601 (the text PostgreSQL prints for them, too)."""

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
    """A ``date``, stored in ISO 8601. Arguments: ``EncryptedType``.

    Example::

        birthday: Mapped[dt.date] = mapped_column(EncryptedDate())
    """

    cache_ok = True
    iso_type = dt.date


class EncryptedDateTime(_IsoFormat[dt.datetime]):
    """A ``datetime`` (naive or aware, kept as given), stored in ISO 8601. Arguments:
    ``EncryptedType``.

    Example::

        seen_at: Mapped[dt.datetime] = mapped_column(EncryptedDateTime())
    """

    cache_ok = True
    iso_type = dt.datetime

    def index_bytes(self, value: Any) -> bytes:
        return timestamp_form(self._checked(value))  # an aware one as the instant in UTC


class EncryptedTime(_IsoFormat[dt.time]):
    """A ``time``, stored in ISO 8601. Arguments: ``EncryptedType``.

    Example::

        wake_up: Mapped[dt.time] = mapped_column(EncryptedTime())
    """

    cache_ok = True
    iso_type = dt.time

    def index_bytes(self, value: Any) -> bytes:
        return time_form(self._checked(value))  # an aware one in UTC


class EncryptedUUID(EncryptedType[uuid.UUID]):
    """A ``UUID``, stored in its canonical text. Arguments: ``EncryptedType``.

    Example::

        token: Mapped[uuid.UUID] = mapped_column(EncryptedUUID())
    """

    cache_ok = True

    @staticmethod
    def to_bytes(value: uuid.UUID) -> bytes:
        return str(uuid.UUID(str(value))).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> uuid.UUID:
        return uuid.UUID(data.decode("ascii"))
