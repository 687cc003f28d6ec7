"""Python values to the bytes that are encrypted, and back: the text and bytes forms that both
families share (the AEAD types' other forms live beside them, in ``aead``).

Values are stored as the UTF-8 of their text form, the same text PostgreSQL prints, which is
what lets ``op.encrypt_column`` convert an existing column.
"""

from __future__ import annotations


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
