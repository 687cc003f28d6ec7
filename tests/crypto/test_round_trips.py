"""Values go in and come out as they were, through Core, the ORM and a keyring that grows."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hardening import errors, keys
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import (
    ColumnContextError,
    EncryptedBoolean,
    EncryptedBytes,
    EncryptedDate,
    EncryptedDateTime,
    EncryptedFloat,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    EncryptedTime,
    EncryptedUUID,
    PGPBytes,
    PGPText,
)
from tests.crypto.models import Base, Person, one_row, pgp_table, ring

MB = "é" * (1 << 19)  # 1 MiB of UTF-8

CASES: list[tuple[Any, list[Any]]] = [
    (EncryptedText, [None, "", "plain ascii", "ünïcødé ✓ 𝄞", MB]),
    (EncryptedBytes, [None, b"", b"\x00\x01\xff", os.urandom(1 << 20)]),
    (EncryptedJSON, [None, {}, {"a": [1, 2.5, None, "ü"]}, "", 0]),
    (EncryptedInteger, [None, 0, -1, 2**80]),
    (EncryptedFloat, [None, 0.0, -1.5, 1e300]),
    (EncryptedNumeric, [None, Decimal("0"), Decimal("-12.3400")]),
    (EncryptedBoolean, [None, True, False]),
    (EncryptedDate, [None, dt.date(1999, 12, 31)]),
    (EncryptedDateTime, [None, dt.datetime(2024, 2, 29, 12, 1, 2, 3), dt.datetime.now(dt.UTC)]),
    (EncryptedTime, [None, dt.time(23, 59, 59, 999)]),
    (EncryptedUUID, [None, uuid.uuid4()]),
    (PGPText, [None, "", "plain ascii", "ünïcødé ✓ 𝄞", MB]),
    (PGPBytes, [None, b"", b"\x00\x01\xff", os.urandom(1 << 20)]),
]


@pytest.mark.parametrize(("type_", "values"), CASES, ids=[c[0].__name__ for c in CASES])
def test_every_type_round_trips_null_empty_unicode_and_1mb(
    engine: Engine, pg_database: PgDatabase, type_: Any, values: list[Any]
) -> None:
    table = Table("vals", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_()))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "v": v} for i, v in enumerate(values)])
        got = [row.v for row in conn.execute(select(table).order_by(table.c.id))]
    assert got == values
    with psycopg.connect(pg_database.dsn) as raw:
        stored = [r[0] for r in raw.execute("SELECT v FROM vals ORDER BY id")]
    assert stored[0] is None
    for value, blob in zip(values[1:], stored[1:], strict=True):
        assert isinstance(blob, bytes)
        plain = value if isinstance(value, bytes) else str(value).encode()
        assert blob[:1] in (b"\x01", b"\x02")
        if len(plain) >= 4:
            assert plain not in blob


def test_orm_model_round_trips_and_holds_no_plaintext(
    engine: Engine, pg_database: PgDatabase
) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Person(ssn="123-45-6789", note="likes tea", email="ann@example.org"))
        session.commit()
    with Session(engine) as session:
        person = session.scalars(select(Person)).one()
        assert (person.ssn, person.note, person.email) == (
            "123-45-6789",
            "likes tea",
            "ann@example.org",
        )
        found = session.scalars(select(Person).where(Person.ssn.blind_eq("123-45-6789"))).all()
        by_email = session.scalars(
            select(Person).where(Person.email.blind_eq("ann@example.org"))
        ).all()
        assert [p.id for p in found] == [person.id] == [p.id for p in by_email]
        assert session.scalars(select(Person).where(Person.ssn.blind_eq("000"))).all() == []
    with psycopg.connect(pg_database.dsn) as raw:
        dump = b"".join(
            bytes(v or b"")
            for row in raw.execute("SELECT ssn, ssn_bidx, note, email, email_bidx FROM people")
            for v in row
        )
    for plain in (b"123-45-6789", b"likes tea", b"ann@example.org"):
        assert plain not in dump


def test_rows_under_an_old_key_read_after_a_new_key_is_prepended(
    engine: Engine, k1: Keyring
) -> None:
    table = one_row(engine, EncryptedText, "old")
    pgp = pgp_table(engine)
    new = Keyring([*ring("k2").keys, *k1.keys])
    keys.configure_keys(new)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=2, a="new", b="new"))
        conn.execute(insert(pgp).values(id=2, v="new"))
        assert conn.execute(select(table.c.a).order_by(table.c.id)).scalars().all() == [
            "old",
            "new",
        ]
        assert conn.execute(select(pgp.c.v).order_by(pgp.c.id)).scalars().all() == [
            "old",
            "new",
        ]
        heads = conn.exec_driver_sql("SELECT substr(a, 3, 2), substr(b, 3, 2) FROM secrets")
        assert sorted(heads.all()) == [(b"k1", b"k1"), (b"k2", b"k2")]


def test_orm_update_with_default_synchronize_session_commits_and_reads_back(
    engine: Engine,
) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        person = Person(id=1, ssn="old", note="old note")
        session.add(person)
        session.commit()
        session.execute(update(Person).where(Person.id == 1).values(ssn="new", note="new note"))
        assert (person.ssn, person.note) == ("new", "new note")  # synchronised in the session
        session.commit()
    with Session(engine) as session:
        assert session.execute(select(Person.ssn, Person.note)).one() == ("new", "new note")
        assert session.scalars(select(Person.id).where(Person.ssn.blind_eq("new"))).all() == [1]


def test_an_unattached_type_names_the_fix(k1: Keyring) -> None:
    with pytest.raises(errors.EncryptionError, match=r"context='table\.column'"):
        EncryptedText().encrypt("x")
    assert EncryptedText(context="t.c").decrypt(EncryptedText(context="t.c").encrypt("x")) == "x"


def test_one_type_instance_shared_by_two_columns_is_refused_naming_both() -> None:
    shared = EncryptedText()
    Table("a", MetaData(), Column("x", shared))
    with pytest.raises(ColumnContextError) as caught:
        Table("b", MetaData(), Column("y", shared))
    assert str(caught.value) == (
        "one EncryptedText instance is used by two columns, a.x and b.y; give each column "
        "its own instance (EncryptedText() in each Column / mapped_column), so each binds its "
        "values to its own table.column"
    )
    assert shared.column_context == "a.x"  # the first column keeps its context
    meta = MetaData()
    Table("a", meta, Column("x", shared))  # the same table.column again is fine
    copy = Table("a", meta, extend_existing=True).to_metadata(MetaData(), name="c")
    assert copy.c.x.type.column_context == "c.x"  # type: ignore[attr-defined]
    assert shared.column_context == "a.x"
