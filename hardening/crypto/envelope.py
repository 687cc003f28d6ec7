"""The binary envelopes stored in ``bytea`` columns, and nothing else (no keys, no SQL).

AEAD envelope (client-side types), format version 1::

    0x01 | n (1 byte, 1..64) | key id (n ASCII bytes) | nonce (12 bytes) | ciphertext + tag (>= 16)

The header (version, length, key id) is part of the associated data, together with the
column's context (``table.column``), so a changed key id, a value moved to another column or
a flipped bit all fail authentication. Overhead: 30 bytes + the key id.

pgcrypto envelope (server-side types), format version 2::

    0x02 | n (1 byte, 1..64) | key id (n ASCII bytes) | OpenPGP message (pgp_sym_encrypt_bytea)

PostgreSQL reads the key id with ``substr(v, 3, get_byte(v, 1))`` to pick the key, and the
PGP message with ``substr(v, 3 + get_byte(v, 1))``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from hardening.errors import EnvelopeError

AEAD_V1 = 1
PGP_V1 = 2
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_KEY_ID = 64
_KEY_ID = re.compile(rb"[A-Za-z0-9_.-]{1,64}")


class Envelope(NamedTuple):
    """A parsed envelope (``decode``).

    Args:
        version: ``AEAD_V1`` or ``PGP_V1``.
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
        version: ``AEAD_V1`` or ``PGP_V1``.
        key_id: 1 to 64 ASCII characters.

    Example::

        header(AEAD_V1, "k1")    # b"\\x01\\x02k1"
    """
    kid = key_id.encode("ascii")
    if not 1 <= len(kid) <= MAX_KEY_ID:
        raise EnvelopeError(f"a key id has 1 to {MAX_KEY_ID} ASCII characters")
    return bytes((version, len(kid))) + kid


def encode_aead(key_id: str, nonce: bytes, ciphertext: bytes) -> bytes:
    """The AEAD envelope of an AES-GCM result.

    Args:
        key_id: the key's id.
        nonce: the 12-byte nonce.
        ciphertext: the ciphertext with its 16-byte tag.

    Example::

        encode_aead("k1", nonce, AESGCM(k).encrypt(nonce, data, ad))
    """
    if len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise EnvelopeError("an AEAD envelope needs a 12-byte nonce and a tagged ciphertext")
    return header(AEAD_V1, key_id) + nonce + ciphertext


def encode_pgp(key_id: str, message: bytes) -> bytes:
    """The pgcrypto envelope of an OpenPGP message.

    Args:
        key_id: the key's id.
        message: what ``pgp_sym_encrypt_bytea`` returned.

    Example::

        encode_pgp("k1", message)
    """
    return header(PGP_V1, key_id) + message


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
    if version not in (AEAD_V1, PGP_V1):
        # the byte is not quoted: in a column that still holds plaintext, it is the first
        # character of that plaintext
        raise EnvelopeError(
            f"the value does not start with a known envelope format version ({AEAD_V1} or "
            f"{PGP_V1}): plaintext, or written by something else"
        )
    if not 1 <= n <= MAX_KEY_ID or len(data) < 2 + n:
        raise EnvelopeError("the envelope's key id is cut off or has an invalid length")
    raw = bytes(data[2 : 2 + n])
    if not _KEY_ID.fullmatch(raw):
        raise EnvelopeError("the envelope's key id has characters a key id cannot have")
    return version, raw.decode("ascii"), 2 + n


def decode(data: bytes | memoryview) -> Envelope:
    """Parse an AEAD or pgcrypto envelope; ``EnvelopeError`` for anything malformed.

    Args:
        data: a stored value.

    Example::

        envelope = decode(stored)
        envelope.version, envelope.key_id    # (1, 'k1')
    """
    version, key_id, body = split_header(data)
    if version == AEAD_V1:
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
