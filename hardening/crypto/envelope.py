"""The binary envelopes stored in ``bytea`` columns, and nothing else (no keys, no SQL).

Every envelope starts with the same header, ``version (1 byte) | n (1 byte, 1..64) | key id
(n ASCII bytes)``, followed by the format's body:

=======  ==========================  ===================================================
version  what                        body
=======  ==========================  ===================================================
1        AEAD, first format          nonce (12) | AES-256-GCM ciphertext + tag (>= 16)
2        pgcrypto, first format      OpenPGP message (``pgp_sym_encrypt_bytea``)
3        AEAD, bound to its column   nonce (12) | ciphertext + tag of a framed payload
4        AEAD, bound to its row      as 3, with the row's primary key in the associated data
5        pgcrypto, bound to column   OpenPGP message under the column's current password
=======  ==========================  ===================================================

New values are written in formats 3, 4 and 5; formats 1 and 2 are read (and ``rotate``
moves them to the current ones). What each version binds (keys, associated data) is
``hardening.crypto.cipher``'s; the payload inside formats 3 and 4 (a codec byte, the value,
optional padding) is ``hardening.crypto.payload``'s. The header is part of the associated
data, so a changed version byte or key id fails authentication. Overhead of an AEAD value:
30 bytes + the key id (+ 1 payload byte in formats 3 and 4).

PostgreSQL reads a pgcrypto value's header with ``substr(v, 1, 2 + get_byte(v, 1))`` to
pick the password, and the PGP message with ``substr(v, 3 + get_byte(v, 1))``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from hardening.errors import EnvelopeError

AEAD_V1 = 1
PGP_V1 = 2
AEAD_V2 = 3
AEAD_ROW = 4
PGP_V2 = 5
AEAD_VERSIONS = frozenset({AEAD_V1, AEAD_V2, AEAD_ROW})
PGP_VERSIONS = frozenset({PGP_V1, PGP_V2})
VERSIONS = AEAD_VERSIONS | PGP_VERSIONS
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_KEY_ID = 64
_KEY_ID = re.compile(rb"[A-Za-z0-9_.-]{1,64}")


class Envelope(NamedTuple):
    """A parsed envelope (``decode``).

    Args:
        version: one of ``VERSIONS``.
        key_id: the id of the key that encrypted it.
        nonce: the AES-GCM nonce (empty for pgcrypto).
        ciphertext: the ciphertext with its GCM tag, or the OpenPGP message.

    Example::

        decode(stored).key_id    # 'k1'
    """

    version: int
    key_id: str
    nonce: bytes
    ciphertext: bytes  # includes the GCM tag for AEAD; the OpenPGP message for pgcrypto

    @property
    def header(self) -> bytes:
        """``version | len | key id``."""
        return header(self.version, self.key_id)


def header(version: int, key_id: str) -> bytes:
    """``version | len | key id``: the envelope's prefix, also the AEAD associated data's end.

    Args:
        version: one of ``VERSIONS``.
        key_id: 1 to 64 ASCII characters.

    Example::

        header(AEAD_V1, "k1")    # b"\\x01\\x02k1"
    """
    kid = key_id.encode("ascii")
    if not 1 <= len(kid) <= MAX_KEY_ID:
        raise EnvelopeError(f"a key id has 1 to {MAX_KEY_ID} ASCII characters")
    return bytes((version, len(kid))) + kid


def encode_aead(key_id: str, nonce: bytes, ciphertext: bytes, version: int = AEAD_V2) -> bytes:
    """The AEAD envelope of an AES-GCM result.

    Args:
        key_id: the key's id.
        nonce: the 12-byte nonce.
        ciphertext: the ciphertext with its 16-byte tag.
        version: ``AEAD_V2`` (bound to its column), ``AEAD_ROW`` or ``AEAD_V1``.

    Example::

        encode_aead("k1", nonce, AESGCM(k).encrypt(nonce, data, ad))
    """
    if version not in AEAD_VERSIONS:
        raise EnvelopeError(f"{version} is not an AEAD format version")
    if len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise EnvelopeError("an AEAD envelope needs a 12-byte nonce and a tagged ciphertext")
    return header(version, key_id) + nonce + ciphertext


def encode_pgp(key_id: str, message: bytes, version: int = PGP_V2) -> bytes:
    """The pgcrypto envelope of an OpenPGP message.

    Args:
        key_id: the key's id.
        message: what ``pgp_sym_encrypt_bytea`` returned.
        version: ``PGP_V2`` (the current password derivation) or ``PGP_V1``.

    Example::

        encode_pgp("k1", message)
    """
    if version not in PGP_VERSIONS:
        raise EnvelopeError(f"{version} is not a pgcrypto format version")
    return header(version, key_id) + message


def split_header(data: bytes | memoryview) -> tuple[int, str, int]:
    """``(version, key id, offset of the body)``; ``EnvelopeError`` for anything that does not
    start with a whole envelope header (its message never quotes a byte of ``data``).

    Args:
        data: a stored value.

    Example::

        version, key_id, body = split_header(stored)
    """
    if len(data) < 3:
        raise EnvelopeError("the value is too short to be an envelope (truncated?)")
    version, n = data[0], data[1]
    if version not in VERSIONS:
        # the byte is not quoted: in a column that still holds plaintext, it is the first
        # character of that plaintext
        raise EnvelopeError(
            f"the value does not start with a known envelope format version ({min(VERSIONS)} "
            f"to {max(VERSIONS)}): plaintext, or written by something else"
        )
    if not 1 <= n <= MAX_KEY_ID or len(data) < 2 + n:
        raise EnvelopeError("the envelope's key id is cut off or has an invalid length")
    raw = bytes(data[2 : 2 + n])
    if not _KEY_ID.fullmatch(raw):
        raise EnvelopeError("the envelope's key id has characters a key id cannot have")
    return version, raw.decode("ascii"), 2 + n


def has_header(data: bytes | memoryview) -> bool:
    """True when ``data`` starts with a whole envelope header (what ``split_header`` accepts),
    without raising: the test a column rewrite makes of every row that may be plaintext.

    Args:
        data: a stored value.

    Example::

        has_header(b"plain text")    # False
    """
    if len(data) < 3 or data[0] not in VERSIONS:
        return False
    n = data[1]
    return 1 <= n <= MAX_KEY_ID and len(data) >= 2 + n and bool(_KEY_ID.fullmatch(data[2 : 2 + n]))


def decode(data: bytes | memoryview) -> Envelope:
    """Parse an AEAD or pgcrypto envelope; ``EnvelopeError`` for anything malformed.

    Args:
        data: a stored value.

    Example::

        envelope = decode(stored)
        envelope.version, envelope.key_id    # (3, 'k1')
    """
    version, key_id, body = split_header(data)
    if version in AEAD_VERSIONS:
        if len(data) < body + NONCE_BYTES + TAG_BYTES:
            raise EnvelopeError("the AEAD envelope is shorter than nonce + tag (truncated?)")
        return Envelope(
            version,
            key_id,
            bytes(data[body : body + NONCE_BYTES]),
            bytes(data[body + NONCE_BYTES :]),
        )
    if len(data) == body:
        raise EnvelopeError("the pgcrypto envelope has no OpenPGP message (truncated?)")
    return Envelope(version, key_id, b"", bytes(data[body:]))
