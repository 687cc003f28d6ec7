"""Blind indexes: equality lookups on encrypted columns, across key versions."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, update
from sqlalchemy.engine import Engine

from hardening import keys
from hardening.blind_index import blind_index_column
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedText, PGPText

K1 = Keyring.from_pairs([("k1", os.urandom(32))])
K2 = Keyring.from_pairs([("k2", os.urandom(32))])


@pytest.fixture
def engine(pg_database: PgDatabase) -> Iterator[Engine]:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    keys.configure_keys(K1)
    eng = create_engine(pg_database.url)
    yield eng
    eng.dispose()
    keys.configure_keys(None)


def contacts() -> Table:
    return Table(
        "contacts",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("email", EncryptedText()),
        blind_index_column("email", "email_bidx"),
        Column("phone", PGPText()),
        blind_index_column("phone", "phone_bidx"),
    )


def test_lookups_find_rows_indexed_under_every_key_of_the_keyring(engine: Engine) -> None:
    table = contacts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, email="a@x", phone="+1 555"))
    keys.configure_keys(Keyring([*K2.keys, *K1.keys]))  # k2 prepended: new rows use it
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=2, email="a@x", phone="+1 555"))
        query = select(table.c.id).where(table.c.email.blind_eq("a@x")).order_by(table.c.id)
        assert conn.execute(query).scalars().all() == [1, 2]
        assert " IN " in str(query)
        by_phone = select(table.c.id).where(table.c.phone.blind_eq("+1 555"))
        assert sorted(conn.execute(by_phone).scalars()) == [1, 2]
        assert conn.execute(select(table.c.id).where(table.c.email.blind_eq("b@x"))).all() == []


def test_the_index_reveals_equality_only_and_differs_per_column(
    engine: Engine, pg_database: PgDatabase
) -> None:
    table = contacts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"id": 1, "email": "same", "phone": "same"},
                {"id": 2, "email": "same", "phone": "other"},
            ],
        )
    with psycopg.connect(pg_database.dsn) as conn:
        rows = conn.execute("SELECT email_bidx, phone_bidx FROM contacts ORDER BY id").fetchall()
    (e1, p1), (e2, p2) = rows
    assert e1 == e2  # equal values, equal index entries: that is what it reveals
    assert p1 != p2
    assert e1 != p1  # the same value in another column has another index entry
    assert len(e1) == 32
    assert b"same" not in e1


def test_a_core_update_keeps_the_index_with_blind_hash(engine: Engine) -> None:
    table = contacts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, email="old@x"))
        conn.execute(
            update(table)
            .where(table.c.id == 1)
            .values(email="new@x", email_bidx=table.c.email.blind_hash("new@x"))
        )
        found = conn.execute(select(table.c.email).where(table.c.email.blind_eq("new@x")))
        assert found.scalars().all() == ["new@x"]


def test_blind_eq_without_a_blind_index_names_the_fix() -> None:
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("s", EncryptedText())
    )
    with pytest.raises(LookupError, match=r"blind_index_column\('s'\)"):
        table.c.s.blind_eq("x")
