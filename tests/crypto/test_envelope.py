"""The envelope decoder: round trips, and arbitrary bytes never crash it (hypothesis)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardening import envelope
from hardening.errors import DecryptionError, EnvelopeError, KeyNotFoundError
from hardening.keys import Keyring
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
    # the first byte of a column that still holds plaintext is that plaintext's: not quoted
    with pytest.raises(EnvelopeError) as caught:
        envelope.decode(b"P\x02k1" + bytes(40))
    assert str(caught.value) == (
        "the value does not start with a known envelope format version (1 or 2): plaintext, "
        "or written by something else"
    )


COLUMN = EncryptedBytes(context="t.c", keys=Keyring.from_pairs([("k1", os.urandom(32))]))


def _nonce(sealed: bytes) -> bytes:
    body = 2 + sealed[1]
    return sealed[body : body + envelope.NONCE_BYTES]


def test_every_value_gets_its_own_nonce_across_threads() -> None:
    import threading

    seen: list[bytes] = []

    def work() -> None:
        seen.extend(_nonce(COLUMN.encrypt(b"x")) for _ in range(5000))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 20000
    assert len(set(seen)) == len(seen)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_repeats_the_parents_nonces() -> None:
    COLUMN.encrypt(b"warm the parent's nonce buffer")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next nonces and leave without running pytest's atexit
        try:
            os.write(write, b"".join(_nonce(COLUMN.encrypt(b"c")) for _ in range(100)))
        finally:
            os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 4096):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = {_nonce(COLUMN.encrypt(b"p")) for _ in range(100)}
    children = {child[i : i + 12] for i in range(0, len(child), 12)}
    assert len(children) == 100
    assert not parent & children


def test_the_associated_data_binds_the_key_id_and_the_column() -> None:
    material = os.urandom(32)
    both = Keyring.from_pairs([("a", material), ("b", material)])
    column = EncryptedBytes(context="t.c", keys=both)
    sealed = column.encrypt(b"value")
    assert sealed.startswith(b"\x01\x01a")
    relabelled = b"\x01\x01b" + sealed[3:]  # the same key under another id
    with pytest.raises(DecryptionError, match="key id 'b'"):
        column.decrypt(relabelled)
    with pytest.raises(DecryptionError, match=r"t\.d"):
        EncryptedBytes(context="t.d", keys=both).decrypt(sealed)
    assert column.decrypt(sealed) == b"value"
