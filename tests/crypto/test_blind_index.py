"""Blind indexes: equality lookups on encrypted columns, across key versions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    create_engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hardening import keys
from hardening.blind_index import blind_index_column, mapped_blind_index
from hardening.errors import BlindIndexError
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedComparisonError, EncryptedText, PGPText
from tests.crypto.models import Base as PeopleBase
from tests.crypto.models import Person

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
    assert len(e1) == 2 + 2 + 4 + 32  # 0xB2, the key id's length, 'k1', column tag, HMAC
    assert e1.startswith(b"\xb2\x02k1")
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
    with pytest.raises(BlindIndexError, match=r"blind_index_column\('s'\)"):
        table.c.s.blind_eq("x")


class Base(DeclarativeBase):
    pass


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(EncryptedText())
    email_bidx: Mapped[bytes | None] = mapped_blind_index("email")
    phone: Mapped[str | None] = mapped_column(PGPText())
    phone_bidx: Mapped[bytes | None] = mapped_blind_index("phone")


def _orm_pk_bulk(session: Session, column: str, value: str) -> None:
    session.execute(update(Contact), [{"id": 1, column: value}, {"id": 2, column: "other"}])


def _orm_values(session: Session, column: str, value: str) -> None:
    session.execute(
        update(Contact).where(Contact.id == 1).values({column: value}),
        execution_options={"synchronize_session": False},
    )


def _orm_values_default_sync(session: Session, column: str, value: str) -> None:
    session.execute(update(Contact).where(Contact.id == 1).values({column: value}))


def _bulk_update_mappings(session: Session, column: str, value: str) -> None:
    session.bulk_update_mappings(Contact, [{"id": 1, column: value}])


def _core(session: Session, column: str, value: str) -> None:
    table = cast(Table, Contact.__table__)
    session.connection().execute(update(table).where(table.c.id == 1).values({column: value}))


def _core_params(session: Session, column: str, value: str) -> None:
    table = cast(Table, Contact.__table__)
    session.connection().execute(
        update(table).where(table.c.id == bindparam("pk")),
        [{"pk": 1, column: value}, {"pk": 2, column: "other"}],
    )


def _core_bindparam(session: Session, column: str, value: str) -> None:
    table = cast(Table, Contact.__table__)
    session.connection().execute(
        update(table).where(table.c.id == 1).values({column: bindparam("new")}), {"new": value}
    )


def _on_conflict_excluded(session: Session, column: str, value: str) -> None:
    stmt = pg_insert(cast(Table, Contact.__table__)).values({"id": 1, column: value})
    session.connection().execute(
        stmt.on_conflict_do_update(index_elements=["id"], set_={column: stmt.excluded[column]})
    )


def _on_conflict_value(session: Session, column: str, value: str) -> None:
    stmt = pg_insert(cast(Table, Contact.__table__)).values({"id": 1, column: "ignored"})
    session.connection().execute(
        stmt.on_conflict_do_update(index_elements=["id"], set_={column: value})
    )


UPDATES = [
    _orm_pk_bulk,
    _orm_values,
    _orm_values_default_sync,
    _bulk_update_mappings,
    _core,
    _core_params,
    _core_bindparam,
    _on_conflict_excluded,
    _on_conflict_value,
]


@pytest.mark.parametrize("first", [False, True], ids=["used-engine", "new-engine"])
@pytest.mark.parametrize("column", ["email", "phone"])
@pytest.mark.parametrize("run_update", UPDATES, ids=lambda f: f.__name__.strip("_"))
def test_every_form_of_update_keeps_the_blind_index(
    engine: Engine, pg_database: PgDatabase, run_update: Any, column: str, first: bool
) -> None:
    """On an engine that has already inserted the rows, and as the very first statement of a
    new engine (the kit's hooks go on while that statement is compiled, and serve it)."""
    Base.metadata.create_all(engine)
    attr = getattr(Contact, column)
    with Session(engine) as session:
        session.add_all([Contact(id=1, **{column: "old"}), Contact(id=2, **{column: "two"})])
        session.commit()
    updating = create_engine(pg_database.url) if first else engine
    try:
        with Session(updating) as session:
            run_update(session, column, "new")
            session.commit()
    finally:
        if first:
            updating.dispose()
    with Session(engine) as session:
        assert session.scalars(select(Contact.id).where(attr.blind_eq("new"))).all() == [1]
        assert session.scalars(select(Contact.id).where(attr.blind_eq("old"))).all() == []
        assert session.scalar(select(attr).where(Contact.id == 1)) == "new"


def test_an_update_to_null_clears_the_blind_index(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    table = cast(Table, Contact.__table__)
    with Session(engine) as session:
        session.add(Contact(id=1, email="old"))
        session.commit()
        session.execute(update(Contact).where(Contact.id == 1).values(email=None))
        session.commit()
        assert session.scalar(select(Contact.email_bidx)) is None
        assert session.scalars(select(Contact.id).where(Contact.email.blind_eq("old"))).all() == []
        assert table is not None


def test_an_update_to_a_sql_expression_is_refused_naming_both_columns(engine: Engine) -> None:
    table = contacts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, email="old", phone="p"))
    statements = [
        update(table).values(email=func.lower(table.c.email)),
        pg_insert(table)
        .values(id=1, email="x")
        .on_conflict_do_update(index_elements=["id"], set_={"email": table.c.email}),
    ]
    for stmt in statements:
        with engine.begin() as conn, pytest.raises(BlindIndexError) as caught:
            conn.execute(stmt)
        assert "contacts.email" in str(caught.value)
        assert "'email_bidx'" in str(caught.value)
    _still_indexed_as(engine, table, "old")


def _still_indexed_as(engine: Engine, table: Table, value: str) -> None:
    conn: Connection
    with engine.connect() as conn:
        query = select(table.c.id).where(table.c.email.blind_eq(value))
        assert conn.execute(query).scalars().all() == [1]


def test_orm_update_refreshes_the_blind_index(engine: Engine) -> None:
    PeopleBase.metadata.create_all(engine)
    with Session(engine) as session:
        person = Person(ssn="111")
        session.add(person)
        session.commit()
        person.ssn = "222"
        session.commit()
        assert session.scalars(select(Person.id).where(Person.ssn.blind_eq("111"))).all() == []
        assert session.scalars(select(Person.id).where(Person.ssn.blind_eq("222"))).all() == [
            person.id
        ]


def test_core_and_bulk_inserts_fill_the_blind_index(engine: Engine) -> None:
    PeopleBase.metadata.create_all(engine)
    people = PeopleBase.metadata.tables["people"]
    with engine.begin() as conn:
        conn.execute(insert(people), [{"ssn": f"ssn-{i}", "email": f"{i}@x"} for i in range(50)])
    with Session(engine) as session:
        session.execute(insert(Person), [{"ssn": "bulk-1"}, {"ssn": "bulk-2"}])
        session.commit()
        assert len(session.scalars(select(Person).where(Person.ssn.blind_eq("ssn-7"))).all()) == 1
        assert len(session.scalars(select(Person).where(Person.email.blind_eq("9@x"))).all()) == 1
        assert len(session.scalars(select(Person).where(Person.ssn.blind_eq("bulk-2"))).all()) == 1
        assert session.scalar(select(Person.ssn).where(Person.ssn.blind_eq("ssn-49"))) == "ssn-49"


def test_blind_eq_of_none_and_of_a_column_without_index_name_the_fix(k1: Keyring) -> None:
    from hardening.errors import BlindIndexError

    with pytest.raises(EncryptedComparisonError, match=r"use ssn.is_\(None\)"):
        Person.ssn.blind_eq(None)
    with pytest.raises(BlindIndexError, match=r"column 'note' has no blind index"):
        Person.note.blind_eq("x")


def test_a_misspelt_blind_index_source_is_refused_when_mappers_are_configured(
    k1: Keyring,
) -> None:
    from sqlalchemy.orm import configure_mappers

    from hardening.errors import BlindIndexError

    class Other(DeclarativeBase):
        pass

    class Typo(Other):
        __tablename__ = "typo"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(EncryptedText())
        email_bidx: Mapped[bytes | None] = mapped_blind_index("emial")

    try:
        with pytest.raises(BlindIndexError) as caught:
            configure_mappers()
        assert str(caught.value) == (
            "blind index 'email_bidx' is declared for column 'emial', which table 'typo' does "
            "not have; its encrypted columns: 'email'"
        )
    finally:
        Other.registry.dispose()  # a failed mapper would fail every later configure
    configure_mappers()
