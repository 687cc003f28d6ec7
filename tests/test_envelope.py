"""The envelope decoder: round trips, and arbitrary bytes never crash it (hypothesis)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardening import envelope
from hardening.envelope import EnvelopeError
from hardening.keys import DecryptionError, KeyNotFoundError, Keyring
from hardening.types import EncryptedBytes

key_ids = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)


@given(key_ids, st.binary(min_size=12, max_size=12), st.binary(min_size=16, max_size=200))
def test_aead_envelopes_round_trip(kid: str, nonce: bytes, sealed: bytes) -> None:
    data = envelope.encode_aead(kid, nonce, sealed)
    assert envelope.decode(data) == (envelope.AEAD_V1, kid, nonce, sealed)
    assert len(data) == 2 + len(kid) + 12 + len(sealed)


@given(key_ids, st.binary(min_size=1, max_size=200))
def test_pgp_envelopes_round_trip(kid: str, message: bytes) -> None:
    assert envelope.decode(envelope.encode_pgp(kid, message)) == (2, kid, b"", message)


@given(st.binary(max_size=300))
def test_the_decoder_accepts_or_raises_envelope_error_for_any_bytes(data: bytes) -> None:
    try:
        env = envelope.decode(data)
    except EnvelopeError:
        return
    assert env.version in (1, 2)
    assert data.startswith(env.header)


@given(st.binary(max_size=300))
def test_decryption_of_arbitrary_bytes_raises_only_the_kit_errors(data: bytes) -> None:
    with pytest.raises((KeyNotFoundError, DecryptionError)) as info:
        COLUMN.decrypt(data)
    assert "t.c" in str(info.value)


@given(st.binary(max_size=100), st.integers(min_value=0, max_value=200), st.integers(0, 255))
def test_any_single_byte_change_or_truncation_is_detected(
    plain: bytes, where: int, xor: int
) -> None:
    sealed = COLUMN.encrypt(plain)
    assert COLUMN.decrypt(sealed) == plain
    damaged = bytearray(sealed)
    if xor:
        damaged[where % len(sealed)] ^= xor
    else:
        del damaged[where % len(sealed) :]
    with pytest.raises((DecryptionError, KeyNotFoundError)):
        COLUMN.decrypt(bytes(damaged))


def test_header_limits() -> None:
    with pytest.raises(EnvelopeError):
        envelope.header(1, "")
    with pytest.raises(EnvelopeError):
        envelope.header(1, "x" * 65)
    with pytest.raises(EnvelopeError, match="format version 9"):
        envelope.decode(b"\x09\x02k1" + bytes(40))


COLUMN = EncryptedBytes(context="t.c", keys=Keyring.from_pairs([("k1", os.urandom(32))]))
