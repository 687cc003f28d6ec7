"""One column rewriter serves ``rotate`` and ``op.encrypt_column``: both refuse the same
columns, before anything changes, in the same words."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Engine

import hardening.encrypt_column  # noqa: F401  (registers the operations)
from hardening.errors import EncryptColumnError, RewriteError, RotationError
from hardening.rotation import rotate
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedText

TABLES = """
    CREATE TABLE no_key (ssn text);
    CREATE TABLE two_keys (a int, b int, ssn text, PRIMARY KEY (a, b));
    CREATE TABLE people (id int PRIMARY KEY, ssn bytea, note text);
"""

CASES: list[tuple[str, str, str | None, str]] = [
    (
        "nobody",
        "ssn",
        None,
        "nobody.ssn: table nobody does not exist (check the table name and the schema)",
    ),
    (
        "people",
        "nope",
        None,
        "people.nope: table people has no column 'nope' (it has id, note, ssn)",
    ),
    (
        "no_key",
        "ssn",
        None,
        "no_key.ssn: table no_key needs a one-column primary key to be "
        "walked in batches (it has none)",
    ),
    (
        "two_keys",
        "ssn",
        None,
        "two_keys.ssn: table two_keys needs a one-column primary key to "
        "be walked in batches (it has a, b)",
    ),
    (
        "people",
        "ssn",
        "ssn",
        "people.ssn cannot be the blind index of ssn: the blind index is "
        "the bytea column declared with mapped_blind_index('ssn')",
    ),
    (
        "people",
        "ssn",
        "id",
        "people.id cannot be the blind index of ssn: the blind index is "
        "the bytea column declared with mapped_blind_index('ssn')",
    ),
    (
        "people",
        "ssn",
        "note",
        "people.note is of type TEXT, not bytea: it is not a blind index "
        "(the blind index is the bytea column declared with mapped_blind_index('ssn'))",
    ),
]


def columns(pg_database: PgDatabase) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_database.dsn) as conn:
        return conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()


CASE_IDS = ["no-table", "no-column", "no-key", "two-keys", "index-is-it", "index-is-key", "text"]


@pytest.mark.parametrize(("table", "column", "index", "message"), CASES, ids=CASE_IDS)
def test_rotate_and_encrypt_column_refuse_a_column_alike_before_any_change(
    engine: Engine,
    pg_database: PgDatabase,
    table: str,
    column: str,
    index: str | None,
    message: str,
) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(TABLES)
    before = columns(pg_database)
    errors: list[RewriteError] = []
    with pytest.raises(RotationError) as rotating:
        rotate(engine, table, column, blind_index_column=index)
    errors.append(rotating.value)
    with engine.connect() as conn:
        op: Any = Operations(MigrationContext.configure(conn))
        with pytest.raises(EncryptColumnError) as encrypting:
            op.encrypt_column(table, column, EncryptedText, blind_index=index)
    errors.append(encrypting.value)
    assert [str(e) for e in errors] == [message, message]
    assert columns(pg_database) == before
