"""The encrypted types through an async engine (psycopg async), ORM and Core: the same round
trips, refusals and blind-index upkeep as a sync engine, from the engine's first statement."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from hardening import keys
from hardening.crypto.hooks import installed
from hardening.testing.plugin import PgDatabase
from hardening.types import DecryptionError, EncryptedComparisonError, install
from tests.crypto.models import Base, Person, ring


@pytest.mark.asyncio
async def test_async_engine_round_trips_and_finds_by_blind_index(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """``engine`` (sync) made the database ready; the async one does the work."""
    async_engine = create_async_engine(pg_database.url)
    try:
        async with async_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(
                insert(Person), [{"ssn": f"a-{i}", "note": f"n-{i}"} for i in range(20)]
            )
        async with AsyncSession(async_engine) as session:
            session.add(Person(ssn="orm", note="via orm", email="x@y"))
            await session.commit()
            person = (await session.scalars(select(Person).where(Person.ssn.blind_eq("orm")))).one()
            assert (person.note, person.email) == ("via orm", "x@y")
            notes = (await session.scalars(select(Person.note).order_by(Person.id))).all()
            assert notes[:2] == ["n-0", "n-1"]
        keys.configure_keys(ring("k1"))  # the same key id, another key
        async with AsyncSession(async_engine) as session:
            with pytest.raises(DecryptionError, match=r"people\.note"):
                await session.scalars(select(Person.note))
    finally:
        await async_engine.dispose()


@pytest.mark.asyncio
async def test_a_new_async_engine_refuses_and_fills_from_its_first_statement(
    engine: Engine, pg_database: PgDatabase
) -> None:
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Person), [{"id": 1, "ssn": "old"}, {"id": 2, "ssn": "two"}])
    for first in ("update", "order by", "installed"):
        fresh = create_async_engine(pg_database.url)
        try:
            assert not installed(fresh)
            stmt: Any = select(Person.ssn).order_by(Person.ssn)
            if first == "installed":
                install(fresh)
                assert installed(fresh)
                stmt = select(Person.id).order_by(Person.ssn)  # compiles no encrypted type
            async with fresh.begin() as conn:
                if first == "update":
                    await conn.execute(update(Person).where(Person.id == 1).values(ssn="new"))
                else:
                    with pytest.raises(EncryptedComparisonError, match="ORDER BY"):
                        await conn.execute(stmt)
        finally:
            await fresh.dispose()
    with Session(engine) as session:
        found = session.scalars(select(Person.id).where(Person.ssn.blind_eq("new")))
        assert found.all() == [1]
