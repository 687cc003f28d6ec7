"""op.encrypt_column of a plaintext (non-bytea) column: no transaction rewrites the table; the
column is filled into a shadow column kept in step with the application's writes, then
swapped in, so the application reads and writes the plaintext column until the swap."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select
from sqlalchemy.engine import Engine

from hardening import keys
from hardening.encrypt_column import EncryptColumnError
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedJSON, EncryptedText
from tests.crypto.test_encrypt_column import downgrade_one, raw, upgrade_one


@pytest.fixture
def engine(pg_database: PgDatabase) -> Iterator[Engine]:
    keys.configure_keys(Keyring.from_pairs([("k1", os.urandom(32))]))
    eng = create_engine(pg_database.url)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, ssn text NOT NULL, note text)")
        conn.execute(
            "INSERT INTO users SELECT i, '\"ssn-' || i || '\"', 'n' FROM generate_series(1, 120) i"
        )
    yield eng
    eng.dispose()
    keys.configure_keys(None)


def sql(pg_database: PgDatabase, statement: str) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(statement)


def leftovers(pg_database: PgDatabase) -> list[tuple[object, ...]]:
    """What the conversion adds while it runs: the shadow column, the trigger, its function,
    the table of rows written meanwhile."""
    return raw(
        pg_database,
        "SELECT 'column ' || attname FROM pg_attribute WHERE attrelid = 'users'::regclass "
        "AND attname LIKE '%hardening%' AND NOT attisdropped "
        "UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE 'hardening%' "
        "UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'hardening%' "
        "UNION ALL SELECT 'table ' || relname FROM pg_class WHERE relname LIKE 'hardening%' "
        "ORDER BY 1",
    )


def test_an_interrupted_conversion_keeps_the_applications_writes_and_resumes(
    engine: Engine, pg_database: PgDatabase
) -> None:
    sql(pg_database, "UPDATE users SET ssn = 'not json' WHERE id = 90")  # stops the fill there
    with pytest.raises(EncryptColumnError, match=r"users\.ssn, row id 90"):
        upgrade_one(engine, "users", "ssn", EncryptedJSON, batch_size=20)
    # the application still reads and writes the plaintext column, as before the upgrade
    assert raw(pg_database, "SELECT ssn FROM users WHERE id = 3") == [('"ssn-3"',)]
    filled = raw(pg_database, "SELECT count(*) FROM users WHERE ssn__hardening IS NOT NULL")
    assert filled == [(80,)]  # the batches before the one of row 90
    sql(pg_database, """UPDATE users SET ssn = '"changed"' WHERE id = 5""")  # already filled
    sql(pg_database, """INSERT INTO users VALUES (500, '"inserted"', 'n')""")
    sql(pg_database, """UPDATE users SET ssn = '"fixed"' WHERE id = 90""")
    upgrade_one(engine, "users", "ssn", EncryptedJSON, batch_size=20)
    model = Table(
        "users",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedJSON()),
    )
    with engine.connect() as conn:
        got = dict(conn.execute(select(model.c.id, model.c.ssn)).all())
    expected = {i: f"ssn-{i}" for i in range(1, 121)} | {5: "changed", 90: "fixed", 500: "inserted"}
    assert got == expected
    assert leftovers(pg_database) == []
    assert raw(
        pg_database,
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'users' AND column_name = 'ssn'",
    ) == [("bytea", "NO")]  # NOT NULL is carried over
    assert raw(pg_database, "SELECT DISTINCT get_byte(ssn, 0) FROM users") == [(3,)]


def test_the_downgrade_of_a_conversion_that_never_swapped_leaves_the_column_as_it_was(
    engine: Engine, pg_database: PgDatabase
) -> None:
    before = raw(pg_database, "SELECT id, ssn FROM users ORDER BY id")
    sql(pg_database, "UPDATE users SET ssn = 'not json' WHERE id = 50")
    with pytest.raises(EncryptColumnError):
        upgrade_one(engine, "users", "ssn", EncryptedJSON, batch_size=20, blind_index="ssn_bidx")
    downgrade_one(
        engine, "users", "ssn", EncryptedJSON, plaintext_type="text", blind_index="ssn_bidx"
    )
    assert leftovers(pg_database) == []
    after = raw(pg_database, "SELECT id, ssn FROM users ORDER BY id")
    assert after == [(i, "not json" if i == 50 else s) for i, s in before]
    columns = raw(
        pg_database,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY 1",
    )
    assert columns == [("id",), ("note",), ("ssn",)]


@pytest.mark.parametrize(
    ("ddl", "named"),
    [
        ("CREATE VIEW ssns AS SELECT ssn FROM users", "view ssns"),
        ("CREATE INDEX users_ssn ON users (ssn)", "index users_ssn"),
        (
            "ALTER TABLE users ADD CONSTRAINT ssn_long CHECK (length(ssn) > 3)",
            "constraint ssn_long",
        ),
    ],
)
def test_what_uses_the_column_is_named_before_anything_changes(
    engine: Engine, pg_database: PgDatabase, ddl: str, named: str
) -> None:
    sql(pg_database, ddl)
    with pytest.raises(EncryptColumnError) as caught:
        upgrade_one(engine, "users", "ssn", EncryptedText)
    assert str(caught.value).startswith(f"users.ssn is used by {named}")
    assert "drop them first" in str(caught.value)
    assert leftovers(pg_database) == []
    assert raw(pg_database, "SELECT ssn FROM users WHERE id = 1") == [('"ssn-1"',)]
