"""Python values to bytes and back, in the two forms the kit knows.

**The text form** is the UTF-8 of the text PostgreSQL prints for the value (ISO 8601 for dates,
decimal digits for numbers, ``true``/``false``, compact JSON). The first AEAD format stored
values so, ``op.encrypt_column`` converts a plaintext column from it, and blind indexes hash
it. Its length follows the value: ``false`` is longer than ``true``, 12345 than 7.

**The fixed-width form** is what the current AEAD format stores for fixed-size types, so that
every value of such a column has the same length:

====  ==========  ===========================================================  ==============
id    codec       bytes                                                        width
====  ==========  ===========================================================  ==============
1     boolean     0x00 / 0x01                                                  1
2     integer     two's complement, big-endian                                 8 (*)
3     float       IEEE 754 binary64, big-endian (``-0.0``, NaN kept)           8
4     date        proleptic Gregorian ordinal, big-endian                      4
5     datetime    microseconds since 0001-01-01 of the wall time | offset (**) 16
6     time        microseconds since midnight | offset (**)                    16
7     uuid        the 16 bytes of the UUID                                     16
====  ==========  ===========================================================  ==============

(*) integers beyond the 64-bit range take the fewest bytes that hold them (more than 8): a
value that large is told apart by its length. (**) the UTC offset in microseconds as a signed
64-bit integer, or -2**63 for a naive value; the zone's name is not kept (the text form does
not keep it either).

Id 0 is the text form. ``FIXED`` maps each id to its codec, so a reader that does not know
the column's type (``rotate`` without one) can still turn a value into its text form.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "FIXED",
    "FLOAT",
    "INTEGER",
    "TEXT",
    "TIME",
    "UUID",
    "BytesValues",
    "FixedCodec",
    "TextValues",
    "bool_parse",
    "bool_text",
    "bytes_from_bytes",
    "bytes_to_bytes",
    "float_parse",
    "float_text",
    "int_parse",
    "int_text",
    "text_from_bytes",
    "text_to_bytes",
    "uuid_parse",
    "uuid_text",
]

TEXT = 0  # the codec id of the text form


# ------------------------------------------------------------------------------ text forms
def text_to_bytes(value: str) -> bytes:
    """``value`` as UTF-8 (a ``str`` only: anything else raises ``AttributeError``).

    Args:
        value: the text.

    Example::

        text_to_bytes("ünï")    # b"\\xc3\\xbcn\\xc3\\xaf"
    """
    return value.encode("utf-8")


def text_from_bytes(data: bytes) -> str:
    """The ``str`` of UTF-8 ``data``.

    Args:
        data: UTF-8 bytes.

    Example::

        text_from_bytes(b"abc")    # 'abc'
    """
    return data.decode("utf-8")


def bytes_to_bytes(value: bytes) -> bytes:
    """``value`` itself (bytes, bytearray or memoryview only: anything else is a TypeError).

    Args:
        value: the bytes.

    Example::

        bytes_to_bytes(bytearray(b"ab"))    # b"ab"
    """
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError
    return bytes(value)


def bytes_from_bytes(data: bytes) -> bytes:
    """``data`` itself.

    Args:
        data: the stored bytes.

    Example::

        bytes_from_bytes(b"ab")    # b"ab"
    """
    return data


def int_text(value: int) -> bytes:
    """The decimal text of an ``int`` (a ``bool`` is refused with ``TypeError``).

    Args:
        value: the integer.

    Example::

        int_text(-42)    # b"-42"
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return str(value).encode("ascii")


def int_parse(data: bytes) -> int:
    """The ``int`` of its decimal text.

    Args:
        data: ASCII digits, with an optional sign.

    Example::

        int_parse(b"-42")    # -42
    """
    return int(data)


def float_text(value: float) -> bytes:
    """The ``repr`` of a float (round trips exactly).

    Args:
        value: the number.

    Example::

        float_text(0.1)    # b"0.1"
    """
    return repr(float(value)).encode("ascii")


def float_parse(data: bytes) -> float:
    """The ``float`` of its text.

    Args:
        data: what ``float_text`` made (or PostgreSQL's text of a float).

    Example::

        float_parse(b"1e+300")    # 1e+300
    """
    return float(data)


_BOOLEANS = {b"true": True, b"t": True, b"false": False, b"f": False}


def bool_text(value: bool) -> bytes:
    """``true`` / ``false`` (anything but a ``bool`` is a ``TypeError``).

    Args:
        value: the flag.

    Example::

        bool_text(True)    # b"true"
    """
    if not isinstance(value, bool):
        raise TypeError
    return b"true" if value else b"false"


def bool_parse(data: bytes) -> bool:
    """The ``bool`` of ``true`` / ``false`` / ``t`` / ``f``.

    Args:
        data: the text.

    Example::

        bool_parse(b"t")    # True
    """
    return _BOOLEANS[data]


def uuid_text(value: uuid.UUID) -> bytes:
    """The canonical text of a UUID (lower case, hyphenated), as PostgreSQL prints it.

    Args:
        value: a ``UUID`` or its text.

    Example::

        uuid_text(uuid.UUID(int=1))    # b"00000000-0000-0000-0000-000000000001"
    """
    return str(uuid.UUID(str(value))).encode("ascii")


def uuid_parse(data: bytes) -> uuid.UUID:
    """The ``UUID`` of its text.

    Args:
        data: the text.

    Example::

        uuid_parse(b"00000000-0000-0000-0000-000000000001")
    """
    return uuid.UUID(data.decode("ascii"))


# ------------------------------------------------------------------------ fixed-width forms
_Q = struct.Struct(">q")
_QQ = struct.Struct(">qq")
_D = struct.Struct(">d")
_I = struct.Struct(">I")
_NAIVE = -(2**63)
_US = dt.timedelta(microseconds=1)
_EPOCH = dt.datetime(1, 1, 1)


def _offset(value: dt.datetime | dt.time) -> int:
    delta = value.utcoffset()
    return _NAIVE if delta is None else delta // _US


def _zone(offset: int) -> dt.tzinfo | None:
    return None if offset == _NAIVE else dt.timezone(dt.timedelta(microseconds=offset))


def _pack_bool(value: bool) -> bytes:
    if not isinstance(value, bool):
        raise TypeError
    return b"\x01" if value else b"\x00"


def _unpack_bool(data: bytes) -> bool:
    if data not in (b"\x00", b"\x01"):
        raise ValueError
    return data == b"\x01"


def _pack_int(value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    magnitude = value if value >= 0 else ~value  # the bits besides the sign
    return value.to_bytes(max(8, (magnitude.bit_length() + 8) // 8), "big", signed=True)


def _unpack_int(data: bytes) -> int:
    if len(data) < 8:
        raise ValueError
    return int.from_bytes(data, "big", signed=True)


def _pack_float(value: float) -> bytes:
    return _D.pack(float(value))


def _unpack_float(data: bytes) -> float:
    number: float = _D.unpack(data)[0]
    return number


def _pack_date(value: dt.date) -> bytes:
    if type(value) is not dt.date:
        raise TypeError
    return _I.pack(value.toordinal())


def _unpack_date(data: bytes) -> dt.date:
    return dt.date.fromordinal(_I.unpack(data)[0])


def _pack_datetime(value: dt.datetime) -> bytes:
    if not isinstance(value, dt.datetime):
        raise TypeError
    return _QQ.pack((value.replace(tzinfo=None) - _EPOCH) // _US, _offset(value))


def _unpack_datetime(data: bytes) -> dt.datetime:
    wall, offset = _QQ.unpack(data)
    return (_EPOCH + dt.timedelta(microseconds=wall)).replace(tzinfo=_zone(offset))


def _pack_time(value: dt.time) -> bytes:
    if type(value) is not dt.time:
        raise TypeError
    micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000
    return _QQ.pack(micros + value.microsecond, _offset(value))


def _unpack_time(data: bytes) -> dt.time:
    micros, offset = _QQ.unpack(data)
    seconds, us = divmod(micros, 1_000_000)
    minutes, s = divmod(seconds, 60)
    return dt.time(minutes // 60, minutes % 60, s, us, tzinfo=_zone(offset))


def _pack_uuid(value: uuid.UUID) -> bytes:
    return uuid.UUID(str(value)).bytes


def _unpack_uuid(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=data)


def _iso(value: Any) -> bytes:
    text: str = value.isoformat()
    return text.encode("ascii")


class FixedCodec(NamedTuple):
    """One fixed-width form: its id (stored in each payload), its name, ``pack`` (which
    refuses a value of another type with ``TypeError``), ``unpack`` (``ValueError`` or
    ``struct.error`` for bytes of another width) and ``text``, the value's text form (what a
    blind index hashes, what a downgrade stores).

    Example::

        INTEGER.pack(42)      # b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00*"
        INTEGER.text(42)      # b"42"
    """

    id: int
    name: str
    pack: Callable[[Any], bytes]
    unpack: Callable[[bytes], Any]
    text: Callable[[Any], bytes]


BOOLEAN = FixedCodec(1, "boolean", _pack_bool, _unpack_bool, bool_text)
INTEGER = FixedCodec(2, "integer", _pack_int, _unpack_int, int_text)
FLOAT = FixedCodec(3, "float", _pack_float, _unpack_float, float_text)
DATE = FixedCodec(4, "date", _pack_date, _unpack_date, _iso)
DATETIME = FixedCodec(5, "datetime", _pack_datetime, _unpack_datetime, _iso)
TIME = FixedCodec(6, "time", _pack_time, _unpack_time, _iso)
UUID = FixedCodec(7, "uuid", _pack_uuid, _unpack_uuid, uuid_text)

FIXED: dict[int, FixedCodec] = {
    c.id: c for c in (BOOLEAN, INTEGER, FLOAT, DATE, DATETIME, TIME, UUID)
}


class TextValues:
    """Mixed into a column type whose values are ``str``, stored as UTF-8.

    Example::

        class PGPText(TextValues, PGPType[str]): ...
    """

    to_bytes = staticmethod(text_to_bytes)
    from_bytes = staticmethod(text_from_bytes)

    @property
    def python_type(self) -> type[str]:
        return str


class BytesValues:
    """Mixed into a column type whose values are ``bytes``, stored as they are.

    Example::

        class EncryptedBytes(BytesValues, EncryptedType[bytes]): ...
    """

    to_bytes = staticmethod(bytes_to_bytes)
    from_bytes = staticmethod(bytes_from_bytes)

    @property
    def python_type(self) -> type[bytes]:
        return bytes
