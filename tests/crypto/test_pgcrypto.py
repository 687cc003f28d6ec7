"""The pgcrypto family: its key is never SQL text, and PostgreSQL can decrypt in workers."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hardening import keys, migrate
from hardening.testing.plugin import PgDatabase
from hardening.types import (
    DecryptionError,
    EncryptedText,
    InlineKeyError,
    KeyNotFoundError,
    PGPText,
)
from tests.crypto.models import Base, Person, ring


def test_pgcrypto_refuses_to_inline_its_key() -> None:
    from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
    from sqlalchemy.dialects.postgresql import psycopg2 as pg_psycopg2

    psycopg3: Any = pg_psycopg.dialect
    psycopg2: Any = pg_psycopg2.dialect
    stmt = select(Person.note)
    with pytest.raises(InlineKeyError, match="SQL text"):
        stmt.compile(dialect=psycopg3(), compile_kwargs={"literal_binds": True})
    with pytest.raises(InlineKeyError, match="psycopg2"):
        stmt.compile(dialect=psycopg2())
    with pytest.raises(InlineKeyError, match="psycopg2"):
        insert(Person).values(note="x").compile(dialect=psycopg2())
    assert "pgp_sym_decrypt(" in str(stmt.compile(dialect=psycopg3()))


def test_pgcrypto_refuses_a_cursor_that_inlines_parameters(
    pg_database: PgDatabase, engine: Engine
) -> None:
    Base.metadata.create_all(engine)
    inlining = create_engine(pg_database.url, connect_args={"cursor_factory": psycopg.ClientCursor})
    try:
        with Session(inlining) as session:
            session.add(Person(ssn="an INSERT of Person binds the pgcrypto password too"))
            with pytest.raises(InlineKeyError, match="ClientCursor"):
                session.commit()
            session.rollback()
            with pytest.raises(InlineKeyError, match="ClientCursor"):
                session.scalars(select(Person.note)).all()
    finally:
        inlining.dispose()


def _plan(engine: Engine, statement: Any) -> str:
    """EXPLAIN (VERBOSE) of the kit's own SQL for ``statement``, with its bind parameters."""
    compiled = statement.compile(engine)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "EXPLAIN (VERBOSE, COSTS OFF) " + compiled.string, compiled.params
        ).all()
    return "\n".join(row[0] for row in rows)


def test_a_pgcrypto_table_with_parallel_workers_decrypts_in_parallel_workers(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """docs/encryption.md: after the kit's pgcrypto step, ``ALTER TABLE t SET
    (parallel_workers = 2)`` lets a whole-table read of a small PGPText table (far below
    min_parallel_table_scan_size) decrypt in parallel workers; the kit's SELECT expression is
    parallel safe. The same table without the setting reads serially, and so does a table of
    AEAD values with it (nothing there is worth a worker)."""
    migrate.upgrade(pg_database.url, "h002_pgcrypto")
    values = [f"user-{i:05d}@example.org" for i in range(3000)]
    tables = {
        name: Table(
            name,
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("v", type_()),
        )
        for name, type_ in (("serial", PGPText), ("parallel", PGPText), ("aead", EncryptedText))
    }
    for name, table in tables.items():
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(insert(table), [{"v": v} for v in values])
            if name != "serial":
                conn.exec_driver_sql(f"ALTER TABLE {name} SET (parallel_workers = 2)")
            conn.exec_driver_sql(f"ANALYZE {name}")
    plans = {name: _plan(engine, select(table)) for name, table in tables.items()}
    assert "Gather" not in plans["serial"], plans["serial"]
    assert "Gather" not in plans["aead"], plans["aead"]
    parallel = plans["parallel"]
    assert "Parallel Seq Scan on public.parallel" in parallel, parallel
    # The workers decrypt: the call is in the parallel scan's output, below the Gather.
    assert parallel.index("Parallel Seq Scan") < parallel.rindex("pgp_sym_decrypt"), parallel
    with engine.connect() as conn:
        read = conn.execute(select(tables["parallel"].c.v).order_by(tables["parallel"].c.id))
        assert read.scalars().all() == values
    # pgcrypto's failures raised in a worker still become the kit's errors. With the leader
    # not taking part, only workers decrypt; the server's error context says so.
    keys.configure_keys(ring("k1"))  # the same key id, another key
    with pytest.raises(DecryptionError, match="pgcrypto could not decrypt it") as wrong:
        _read_in_workers(engine, tables["parallel"])
    keys.configure_keys(ring("k2"))
    with pytest.raises(KeyNotFoundError) as unknown:
        _read_in_workers(engine, tables["parallel"])
    assert unknown.value.key_id == "k1"
    for caught in (wrong, unknown):
        cause = caught.value.__cause__
        assert isinstance(cause, psycopg.Error), repr(cause)
        assert "parallel worker" in (cause.diag.context or ""), cause.diag.context


def _read_in_workers(engine: Engine, table: Table) -> list[Any]:
    with engine.connect() as conn:
        conn.exec_driver_sql("SET parallel_leader_participation = off")
        return list(conn.execute(select(table)).all())
