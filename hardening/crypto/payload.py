"""The payload the current AEAD formats (3 and 4) encrypt: which form the value is in, the
value, and optional padding.

::

    codec (1 byte) | value                                      unpadded
    codec | 0x80 (1 byte) | value | 0x80 | 0x00 ... 0x00          padded

``codec`` is 0 for the text form and 1 to 7 for a fixed-width form (``codecs.FIXED``); its
high bit says the value is padded, ISO/IEC 7816-4 style: one ``0x80`` byte, then zeros up to
the padded length, so the value ends at the last ``0x80``. Everything here is inside the
ciphertext and authenticated with it.

Padding is opt-in, for the types whose length varies with the value (text, bytes, JSON,
numeric); fixed-width types need none. Two rules (``padding=`` of the AEAD types):

* ``padding=N`` (a bucket): the payload's length is rounded up to a multiple of ``N`` bytes.
  Every value up to ``N - 2`` bytes has the same length; beyond, the length says which bucket
  the value falls in. Costs up to ``N - 1`` bytes per value.
* ``padding="padme"`` (Padmé, Nikitin et al., PETS 2019): the length is rounded so that only
  its top ``floor(log2(log2 L)) + 1`` bits are kept. It leaks O(log log L) bits of the length
  and costs at most ~12 % (less for long values; 0 below 8 bytes, where all lengths stay
  distinct).
"""

from __future__ import annotations

from collections.abc import Callable

from hardening.crypto.codecs import FIXED, TEXT
from hardening.errors import ColumnOptionError

__all__ = ["PADDED", "Padding", "frame", "padding_rule", "padme", "text_form", "unframe"]

PADDED = 0x80
_MARK = b"\x80"
Padding = Callable[[int], int]  # unpadded length (with the marker) -> padded length
MAX_BUCKET = 1 << 16


def padme(length: int) -> int:
    """The Padmé length of a ``length``-byte payload (>= ``length``).

    Args:
        length: the payload's length before padding.

    Example::

        padme(100)    # 104
    """
    if length < 8:
        return length
    exponent = length.bit_length() - 1  # floor(log2 length)
    low_bits = exponent - exponent.bit_length()  # drop all but the top floor(log2 E) + 1
    mask = (1 << low_bits) - 1
    return (length + mask) & ~mask


def _bucket(size: int) -> Padding:
    def rule(length: int) -> int:
        return -(-length // size) * size

    return rule


def padding_rule(padding: int | str | None, where: str) -> Padding | None:
    """The rule of a type's ``padding=`` option, or None for no padding.

    Args:
        padding: None, a bucket size in bytes (2 to 65,536), or ``"padme"``.
        where: the type and column, for the message.

    Raises ``ColumnOptionError`` naming ``where`` for anything else.

    Example::

        padding_rule(32, "EncryptedText of users.bio")(50)    # 64
    """
    if padding is None:
        return None
    if padding == "padme":
        return padme
    if isinstance(padding, int) and not isinstance(padding, bool) and 2 <= padding <= MAX_BUCKET:
        return _bucket(padding)
    raise ColumnOptionError(
        f"{where}: padding={padding!r} is not a padding; use padding=N (a bucket of N bytes, "
        f'2 to {MAX_BUCKET:,}), padding="padme", or None'
    )


def frame(codec: int, data: bytes, padding: Padding | None = None) -> bytes:
    """The payload of ``data`` in form ``codec``, padded by ``padding`` when given.

    Args:
        codec: ``codecs.TEXT`` or a fixed-width codec's id.
        data: the value's bytes in that form.
        padding: from ``padding_rule``, or None.

    Example::

        frame(TEXT, b"abc")                      # b"\\x00abc"
        frame(TEXT, b"abc", padding_rule(8, ""))   # b"\\x80abc\\x80\\x00\\x00\\x00"
    """
    if padding is None:
        return bytes((codec,)) + data
    length = len(data) + 2
    return bytes((codec | PADDED,)) + data + _MARK + bytes(padding(length) - length)


def unframe(payload: bytes) -> tuple[int, bytes]:
    """``(codec, data)`` of a payload; ``ValueError`` when it is empty or its padding has no
    marker (neither can happen to an authenticated payload the kit wrote).

    Args:
        payload: what a current-format envelope decrypted to.

    Example::

        unframe(b"\\x80abc\\x80\\x00")    # (0, b"abc")
    """
    codec = payload[0]
    if codec & PADDED:
        return codec & ~PADDED, payload[1 : payload.rindex(0x80)]
    return codec, payload[1:]


def text_form(payload: bytes) -> bytes | None:
    """The value's text form (what blind indexes hash, what a downgrade stores), whatever form
    the payload holds it in; None when the payload is malformed.

    Args:
        payload: what a current-format envelope decrypted to.

    Example::

        text_form(b"\\x02" + (42).to_bytes(8, "big"))    # b"42"
    """
    try:
        codec, data = unframe(payload)
        if codec == TEXT:
            return data
        fixed = FIXED[codec]
        return fixed.text(fixed.unpack(data))
    except Exception:  # a malformed payload, whatever failed on it
        return None
