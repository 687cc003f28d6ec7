"""What the kit adds to an engine: only to one that uses its types, from its first statement."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from hardening import keys
from hardening.crypto import hooks
from hardening.crypto.hooks import installed
from hardening.testing.plugin import PgDatabase
from hardening.types import DecryptionError, EncryptedComparisonError, EncryptedText, install
from tests.crypto.models import Base, Person, ring


def test_encrypted_results_come_in_binary_only_with_types_that_load_the_same(
    engine: Engine, pg_database: PgDatabase
) -> None:
    from sqlalchemy import Boolean, Date, Enum, Float, Numeric, String, Uuid, event

    with psycopg.connect(pg_database.dsn, autocommit=True) as raw:
        raw.execute("CREATE TYPE mood AS ENUM ('calm', 'busy')")
    table = Table(
        "mixed",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("secret", EncryptedText()),
        Column("amount", Numeric(10, 2)),
        Column("ratio", Float(precision=24)),  # real: float4
        Column("day", Date),
        Column("flag", Boolean),
        Column("uid", Uuid),
        Column("name", String),
        Column("mood", Enum("calm", "busy", name="mood", create_type=False)),
    )
    table.create(engine)
    row = {
        "id": 1,
        "secret": "s3cret",
        "amount": Decimal("12.34"),
        "ratio": 1.1,
        "day": dt.date(2024, 2, 29),
        "flag": True,
        "uid": uuid.uuid4(),
        "name": "ann",
        "mood": "busy",
    }
    formats: list[int] = []

    def seen(conn: Any, cursor: Any, *args: Any) -> None:
        formats.append(int(cursor.format))

    event.listen(engine, "after_cursor_execute", seen)
    with engine.begin() as conn:
        conn.execute(insert(table).values(**row))
        formats.clear()
        same = [table.c[k] for k in ("id", "secret", "day", "flag", "uid")]
        assert dict(conn.execute(select(*same)).one()._mapping) == {
            k: row[k] for k in ("id", "secret", "day", "flag", "uid")
        }
        # Float and Numeric may stand for a real column, whose binary form reads back as
        # 1.100000023841858: text
        numbers = [table.c[k] for k in ("id", "secret", "amount", "ratio")]
        assert dict(conn.execute(select(*numbers)).one()._mapping) == {
            k: row[k] for k in ("id", "secret", "amount", "ratio")
        }
        assert dict(conn.execute(select(table)).one()._mapping) == row  # String, Enum: text
        assert conn.execute(select(table.c.name)).scalar() == "ann"
    assert formats == [1, 0, 0, 0]  # binary, then text


def test_importing_the_kit_adds_no_listener_to_sqlalchemy() -> None:
    """In a fresh interpreter, importing every encryption module (types, keys, blind_index,
    rotation, encrypt_column) registers no event listener anywhere: not on Engine, Dialect,
    Mapper or any other class or object."""
    code = (
        "import sqlalchemy.orm, sqlalchemy.ext.asyncio, alembic.operations\n"
        "from sqlalchemy.event import registry\n"
        "before = set(registry._key_to_collection)\n"
        "import hardening.types, hardening.keys, hardening.blind_index, hardening.rotation\n"
        "import hardening.encrypt_column\n"
        "print(sorted(map(str, set(registry._key_to_collection) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def kit_listeners(target: Any) -> list[str]:
    """Every listener of the kit on ``target`` (an engine or a dialect), for every event."""
    return sorted(
        f"{name}: {fn.__qualname__}"
        for name in target.dispatch._event_names
        for fn in getattr(target.dispatch, name)
        if getattr(fn, "__module__", "").startswith("hardening")
    )


KIT_LISTENERS = sorted(f"{name}: {fn.__qualname__}" for name, fn in hooks.LISTENERS.items())


def test_a_plain_engine_in_the_same_process_carries_nothing_of_the_kit(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """After the kit's types ran on one engine, a SQLite engine and a second PostgreSQL engine
    of the same process have no listener of the kit, on the engine or its dialect, and their
    dialect compiles and executes as SQLAlchemy's own; an ORDER BY on a bytea column runs."""
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Person(id=1, ssn="a", note="n"))
        session.commit()
        assert session.execute(select(Person.ssn, Person.note)).one() == ("a", "n")
    assert installed(engine)
    assert kit_listeners(engine.dialect) == KIT_LISTENERS
    assert engine.dialect.execution_ctx_cls is not type(engine.dialect).execution_ctx_cls
    for plain in (create_engine("sqlite://"), create_engine(pg_database.url)):
        try:
            blobs = Table(
                "plain_blobs",
                MetaData(),
                Column("id", Integer, primary_key=True),
                Column("data", LargeBinary),
            )
            blobs.create(plain)
            with plain.begin() as conn:
                conn.execute(
                    insert(blobs), [{"id": 1, "data": b"\x02"}, {"id": 2, "data": b"\x01"}]
                )
                ordered = conn.execute(select(blobs.c.id).order_by(blobs.c.data)).scalars()
                assert ordered.all() == [2, 1]
            dialect = plain.dialect
            assert not installed(plain)
            assert kit_listeners(plain) == [] == kit_listeners(dialect)
            for name, listener in hooks.LISTENERS.items():
                assert not event.contains(dialect, name, listener)
            assert (plain._has_events, dialect._has_events) == (False, False)
            assert dialect.statement_compiler is type(dialect).statement_compiler
            assert dialect.execution_ctx_cls is type(dialect).execution_ctx_cls
        finally:
            plain.dispose()


def test_a_new_engine_meets_the_hooks_at_the_statement_that_first_uses_a_type(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """The hooks go on while the first statement that reads or writes an encrypted column is
    compiled, so that statement is judged: refused when it sorts ciphertext, its pgcrypto
    error named. (A first UPDATE gets its blind index: test_blind_index.)"""
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Person(id=1, ssn="a", note="n"))
        session.commit()
    sorting = create_engine(pg_database.url)
    try:
        assert not installed(sorting)
        with sorting.connect() as conn, pytest.raises(EncryptedComparisonError, match="ORDER BY"):
            conn.execute(select(Person.ssn).order_by(Person.ssn))
        assert installed(sorting)
    finally:
        sorting.dispose()
    keys.configure_keys(ring("k1"))  # the same key id, another key
    reading = create_engine(pg_database.url)
    try:
        with reading.connect() as conn, pytest.raises(DecryptionError, match=r"people\.note"):
            conn.execute(select(Person.note))
    finally:
        reading.dispose()


def test_install_puts_the_hooks_on_before_the_first_statement_and_only_once(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """A statement that mentions an encrypted column only in ORDER BY compiles no encrypted
    type, so it cannot put the hooks on by itself: ``install(engine)`` at start-up does,
    however often it is called."""
    Base.metadata.create_all(engine)
    fresh = create_engine(pg_database.url)
    try:
        install(fresh)
        install(fresh)
        assert kit_listeners(fresh.dialect) == KIT_LISTENERS
        assert kit_listeners(fresh) == []
        with fresh.connect() as conn, pytest.raises(EncryptedComparisonError) as caught:
            conn.execute(select(Person.id).order_by(Person.ssn))
        assert str(caught.value).startswith("ORDER BY the encrypted column 'people.ssn'")
    finally:
        fresh.dispose()


def _aliased_sort() -> Any:
    person = aliased(Person)
    return select(person.id).order_by(person.ssn)


def _alias_sort() -> Any:
    people = Person.__table__.alias()
    return select(people.c.id).order_by(people.c.ssn)


def _subquery_sort() -> Any:
    inner = select(Person.id, Person.ssn).subquery()
    return select(inner.c.id).order_by(inner.c.ssn)


FIRST_STATEMENTS = {
    "order by": lambda: select(Person.id).order_by(Person.ssn),
    "group by": lambda: select(Person.id).group_by(Person.ssn),
    "two encrypted columns compared": lambda: select(Person.id).where(Person.note == Person.email),
    "order by an ORM alias's column": _aliased_sort,
    "order by a table alias's column": _alias_sort,
    "order by a subquery's column": _subquery_sort,
}


@pytest.mark.parametrize("statement", FIRST_STATEMENTS.values(), ids=FIRST_STATEMENTS.keys())
def test_a_statement_that_only_sorts_groups_or_compares_encrypted_columns_is_refused_first(
    engine: Engine, pg_database: PgDatabase, statement: Any
) -> None:
    """Such a statement reads and writes no encrypted value, so it compiles no encrypted type;
    rendering the column puts the hooks on, so it is refused as a new engine's very first
    statement, without install(engine)."""
    Base.metadata.create_all(engine)
    fresh = create_engine(pg_database.url)
    try:
        assert not installed(fresh)
        with fresh.connect() as conn, pytest.raises(EncryptedComparisonError) as caught:
            conn.execute(statement())
        assert "'people." in str(caught.value)
        assert installed(fresh)
        assert kit_listeners(fresh.dialect) == KIT_LISTENERS
    finally:
        fresh.dispose()
