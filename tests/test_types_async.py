"""The encrypted types through an async engine (psycopg async), ORM and Core."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from hardening import keys
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import DecryptionError
from tests.test_types import Base, Person


@pytest.mark.asyncio
async def test_async_engine_round_trips_and_finds_by_blind_index(pg_database: PgDatabase) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    keys.configure_keys(Keyring.from_pairs([("k1", os.urandom(32))]))
    engine = create_async_engine(pg_database.url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(
                insert(Person), [{"ssn": f"a-{i}", "note": f"n-{i}"} for i in range(20)]
            )
        async with AsyncSession(engine) as session:
            session.add(Person(ssn="orm", note="via orm", email="x@y"))
            await session.commit()
            person = (await session.scalars(select(Person).where(Person.ssn.blind_eq("orm")))).one()
            assert (person.note, person.email) == ("via orm", "x@y")
            notes = (await session.scalars(select(Person.note).order_by(Person.id))).all()
            assert notes[:2] == ["n-0", "n-1"]
        keys.configure_keys(Keyring.from_pairs([("k1", os.urandom(32))]))
        async with AsyncSession(engine) as session:
            with pytest.raises(DecryptionError, match=r"people\.note"):
                await session.scalars(select(Person.note))
    finally:
        await engine.dispose()
        keys.configure_keys(None)
