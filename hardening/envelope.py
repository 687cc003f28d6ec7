"""The stored envelopes, by their old name: ``hardening.crypto.envelope``."""

from hardening.crypto.envelope import (
    AEAD_V1,
    MAX_KEY_ID,
    NONCE_BYTES,
    PGP_V1,
    TAG_BYTES,
    Envelope,
    decode,
    encode_aead,
    encode_pgp,
    header,
    split_header,
)

__all__ = [
    "AEAD_V1",
    "MAX_KEY_ID",
    "NONCE_BYTES",
    "PGP_V1",
    "TAG_BYTES",
    "Envelope",
    "decode",
    "encode_aead",
    "encode_pgp",
    "header",
    "split_header",
]
