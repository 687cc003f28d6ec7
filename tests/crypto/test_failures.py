"""A value that cannot be read or written is the kit's error, naming the column and the key id
(never the value, a plaintext or a key)."""

from __future__ import annotations

import os
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, update
from sqlalchemy.engine import Engine

from hardening import errors, keys
from hardening.testing import LogCursor
from hardening.testing.plugin import PgDatabase
from hardening.types import (
    DecryptionError,
    EncryptedBoolean,
    EncryptedBytes,
    EncryptedDate,
    EncryptedFloat,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    EncryptedUUID,
    EncryptedValueError,
    KeyNotFoundError,
    PGPBytes,
    PGPText,
)
from tests.crypto.models import FAMILIES, chain_text, legacy_table, one_row, raw_sql, read_a, ring


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_flipped_bit_is_a_decryption_error_naming_column_and_key(
    engine: Engine, pg_database: PgDatabase, type_: Any
) -> None:
    table = one_row(engine, type_, "top secret")
    raw_sql(
        pg_database,
        "UPDATE secrets SET a = set_byte(a, length(a) - 5, get_byte(a, length(a) - 5) # 1)",
    )
    with pytest.raises(DecryptionError, match=r"secrets\.a.*'k1'") as info:
        read_a(engine, table)
    assert "top secret" not in str(info.value)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_value_copied_to_another_column_does_not_decrypt(
    engine: Engine, pg_database: PgDatabase, type_: Any
) -> None:
    table = one_row(engine, type_, "alpha")
    with engine.begin() as conn:
        conn.execute(update(table).values(b="beta"))
    raw_sql(pg_database, "UPDATE secrets SET a = b")
    with pytest.raises(DecryptionError, match=r"secrets\.a"):
        read_a(engine, table)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_truncated_value_is_a_decryption_error(
    engine: Engine, pg_database: PgDatabase, type_: Any
) -> None:
    table = one_row(engine, type_, "a longer secret value")
    raw_sql(pg_database, "UPDATE secrets SET a = substr(a, 1, length(a) - 10)")
    with pytest.raises(DecryptionError, match=r"secrets\.a"):
        read_a(engine, table)
    raw_sql(pg_database, "UPDATE secrets SET a = substr(a, 1, 2)")
    with pytest.raises(DecryptionError, match=r"secrets\.a"):
        read_a(engine, table)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_wrong_key_under_the_same_id_is_a_decryption_error(engine: Engine, type_: Any) -> None:
    table = one_row(engine, type_, "written with the first k1")
    keys.configure_keys(ring("k1"))
    with pytest.raises(DecryptionError, match=r"secrets\.a.*'k1'") as info:
        read_a(engine, table)
    assert "written with" not in str(info.value)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_an_unknown_key_id_is_a_key_not_found_error_naming_it(engine: Engine, type_: Any) -> None:
    table = one_row(engine, type_, "under k1")
    keys.configure_keys(ring("k2"))
    with pytest.raises(KeyNotFoundError, match=r"'k1'.*secrets\.a.*'k2'"):
        read_a(engine, table)


def test_a_pgcrypto_wrong_key_names_the_candidate_key_ids(engine: Engine) -> None:
    table = one_row(engine, PGPText, "written under the first k1")
    keys.configure_keys(ring("k2", "k1"))
    with pytest.raises(DecryptionError) as caught:
        read_a(engine, table)
    assert str(caught.value) == (
        "cannot decrypt a value of secrets.a (key id one of 'k2', 'k1'): pgcrypto could not "
        "decrypt it: wrong key, or the value was altered, truncated or copied from another column"
    )


@pytest.mark.parametrize(
    ("type_", "stored"),
    [
        (EncryptedInteger, b"INT-PLAINTEXT-1"),
        (EncryptedFloat, b"FLOAT-PLAINTEXT-2"),
        (EncryptedDate, b"DATE-PLAINTEXT-3"),
        (EncryptedJSON, b"{JSON-PLAINTEXT-4"),
        (EncryptedText, b"\xffTEXT-PLAINTEXT-5"),
        (EncryptedBoolean, b"BOOL-PLAINTEXT-6"),
    ],
)
def test_a_stored_value_that_is_not_of_the_column_type_is_an_error_naming_the_column_only(
    engine: Engine, type_: Any, stored: bytes
) -> None:
    """A legacy plaintext row the type cannot parse: the error names the column, not the value."""
    typed = legacy_table(engine, stored, type_(legacy_plaintext=True))
    with engine.connect() as conn, pytest.raises(DecryptionError, match=r"legacy\.v") as caught:
        conn.execute(select(typed.c.v)).all()
    assert "PLAINTEXT" not in chain_text(caught.value)


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        (b"\x01\x02k9" + bytes(27), None),  # unknown key id, too short for nonce + tag
        (b"\x01\x02k9" + bytes(28), KeyNotFoundError),  # a complete envelope under it
        (b"\x01\x02k1" + bytes(27), DecryptionError),  # known key id: a truncated envelope
        (b"\x02\x02k9" + bytes(40), None),  # a pgcrypto envelope is no AEAD one
        (b"\x01\x02k!" + bytes(40), None),  # no key id
        (b"plain bytes", None),
    ],
    ids=["short-unknown-id", "complete-unknown-id", "short-known-id", "pgp", "bad-id", "plain"],
)
def test_legacy_plaintext_returns_exactly_what_is_no_aead_envelope(
    engine: Engine, stored: bytes, error: type[Exception] | None
) -> None:
    typed = legacy_table(engine, stored, EncryptedBytes(legacy_plaintext=True))
    with engine.connect() as conn:
        if error is None:
            assert conn.execute(select(typed.c.v)).scalar_one() == stored
        else:
            with pytest.raises(error) as caught:
                conn.execute(select(typed.c.v)).all()
            assert "legacy.v" in str(caught.value)
            assert f"key id '{stored[2:4].decode()}'" in str(caught.value)


@pytest.mark.parametrize(
    ("type_", "bad"),
    [
        (EncryptedText, b"BYTES-PLAINTEXT-1"),
        (EncryptedInteger, "INT-PLAINTEXT-2"),
        (EncryptedDate, "2024-DATE-PLAINTEXT-3"),
        (EncryptedJSON, {"k": {"SET-PLAINTEXT-4"}}),
        (EncryptedNumeric, "NUMERIC-PLAINTEXT-6"),
        (EncryptedUUID, "UUID-PLAINTEXT-7"),
        (PGPText, 12345678987654321),
        (PGPBytes, "PGP-STR-PLAINTEXT-5"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_clear_error_that_never_echoes_the_row(
    engine: Engine, type_: Any, bad: Any
) -> None:
    table = Table(
        "wrong_types", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_())
    )
    table.create(engine)
    other = "OTHER-PLAINTEXT-IN-THE-SAME-ROW"
    table.append_column(Column("w", EncryptedText()), replace_existing=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE wrong_types ADD COLUMN w bytea")
    for stmt, params in (
        (insert(table), {"id": 1, "v": bad, "w": other}),
        (insert(table), [{"id": 2, "v": bad, "w": other}, {"id": 3, "v": bad, "w": other}]),
    ):
        # the kit's error itself, not SQLAlchemy's StatementError listing the parameters
        with engine.begin() as conn, pytest.raises(EncryptedValueError) as caught:
            conn.execute(stmt, params)
        assert isinstance(caught.value, TypeError)
        text = repr(caught.value) + chain_text(caught.value)
        assert str(caught.value) == (
            f"{type_.__name__} of wrong_types.v cannot store a {type(bad).__name__} value; "
            f"it expects {type_()._python_type_name()}"
        )
        assert caught.value.__context__ is None
        for secret in (repr(bad), str(bad), other):
            assert secret not in text


@pytest.mark.parametrize(
    ("type_", "stored", "error", "message"),
    [
        (
            PGPText,
            b"SSN-RAW-PLAINTEXT-123-45-6789",
            DecryptionError,
            "cannot decrypt a value of rawpgp.v (unknown key id): the stored value is not a "
            "pgcrypto envelope (written without the column's type, e.g. plaintext stored by "
            "plain SQL); re-write it through the column's type",
        ),
        (
            PGPBytes,
            b"\x02\x20NOT A KEY ID: RAW-PLAINTEXT-BYTES-0123456789",
            DecryptionError,
            "cannot decrypt a value of rawpgp.v (unknown key id): the stored value is not a "
            "pgcrypto envelope (written without the column's type, e.g. plaintext stored by "
            "plain SQL); re-write it through the column's type",
        ),
        (
            PGPText,
            b"\x02\x02k9" + b"RAW-PLAINTEXT-AFTER-A-HEADER",
            KeyNotFoundError,
            "key id 'k9' needed to decrypt a value of rawpgp.v is not in the keyring (it holds "
            "'k1'); add the old key back to HARDENING_KEYS after the active one",
        ),
    ],
    ids=["plaintext", "bad-key-id", "unknown-key-id"],
)
def test_plaintext_stored_in_a_pgcrypto_column_never_reaches_the_error_or_the_server_log(
    engine: Engine,
    pg_database: PgDatabase,
    pg_log: LogCursor,
    type_: Any,
    stored: bytes,
    error: type[Exception],
    message: str,
) -> None:
    typed = Table(
        "rawpgp", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_())
    )
    typed.create(engine)
    with psycopg.connect(pg_database.dsn, autocommit=True) as raw:
        raw.execute("INSERT INTO rawpgp VALUES (1, %s)", (stored,))
    with engine.connect() as conn, pytest.raises(error) as caught:
        conn.execute(select(typed.c.v)).all()
    assert str(caught.value) == message
    log = pg_log.settle()
    assert "pg-hardening: " in log  # the failing cast was logged...
    secret = stored[4:].decode()
    assert "RAW-PLAINTEXT" in secret
    assert "RAW-PLAINTEXT" not in chain_text(caught.value)  # ...but no stored byte
    assert "RAW-PLAINTEXT" not in log


def test_a_missing_key_reaches_the_application_as_the_kits_error(pg_database: PgDatabase) -> None:
    """Not wrapped in SQLAlchemy's StatementError: ``except KeyConfigError`` catches it on an
    insert as on a read."""
    keys.configure_keys(None)
    saved = {k: os.environ.pop(k, None) for k in (keys.ENV_KEYS, keys.ENV_KEYS_FILE)}
    table = Table(
        "nokeys", MetaData(), Column("id", Integer, primary_key=True), Column("v", EncryptedText())
    )
    eng = create_engine(pg_database.url)
    try:
        table.create(eng)
        with eng.begin() as conn, pytest.raises(errors.KeyConfigError, match="are unset"):
            conn.execute(insert(table), {"id": 1, "v": "x"})
    finally:
        eng.dispose()
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
