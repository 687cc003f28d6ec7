"""Row binding (bind_row=True): a value moved or copied to another row does not decrypt; what
the kit cannot bind to a row is refused with the fix; rotate moves values to the bound form."""

from __future__ import annotations

import os
import uuid
from typing import Any

import psycopg
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import hardening.encrypt_column  # noqa: F401  (registers the operations)
from hardening import cli, keys
from hardening.blind_index import blind_index_column
from hardening.crypto.envelope import AEAD_ROW, AEAD_V2
from hardening.errors import ColumnOptionError, DecryptionError, RowBindingError
from hardening.keys import Key, Keyring
from hardening.rotation import rotate
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedInteger, EncryptedText
from tests.crypto.models import raw_sql


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(40))
    ssn: Mapped[str | None] = mapped_column(EncryptedText(bind_row=True))
    age: Mapped[int | None] = mapped_column(EncryptedInteger(bind_row=True))


def people(**options: Any) -> Table:
    return Table(
        "people",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("email", String(40), unique=True),
        Column("ssn", EncryptedText(bind_row=True, **options)),
        blind_index_column("ssn", "ssn_bidx"),
    )


@pytest.fixture
def patients(engine: Engine) -> Engine:
    Base.metadata.create_all(engine)
    return engine


def stored(pg_database: PgDatabase, sql: str) -> list[Any]:
    with psycopg.connect(pg_database.dsn) as conn:
        return conn.execute(sql).fetchall()


def test_a_value_swapped_or_copied_between_rows_does_not_decrypt(
    patients: Engine, pg_database: PgDatabase
) -> None:
    with Session(patients) as session:
        ann = Patient(name="ann", ssn="111-11-1111", age=41)
        bob = Patient(name="bob", ssn="222-22-2222", age=52)
        session.add_all([ann, bob])
        session.commit()
        ann_id, bob_id = ann.id, bob.id
    versions = stored(
        pg_database, "SELECT DISTINCT get_byte(ssn, 0), get_byte(age, 0) FROM patients"
    )
    assert versions == [(AEAD_ROW, AEAD_ROW)]
    with Session(patients) as session:  # every form of read binds the row
        assert session.get(Patient, ann_id).ssn == "111-11-1111"  # type: ignore[union-attr]
        rows = session.execute(
            select(Patient.name, Patient.ssn, Patient.age).order_by(Patient.name)
        )
        assert [tuple(r) for r in rows] == [("ann", "111-11-1111", 41), ("bob", "222-22-2222", 52)]
    # someone who can write to the table swaps the two rows' values
    raw_sql(
        pg_database,
        f"UPDATE patients SET ssn = CASE WHEN id = '{ann_id}' THEN "
        f"(SELECT ssn FROM patients WHERE id = '{bob_id}') ELSE "
        f"(SELECT ssn FROM patients WHERE id = '{ann_id}') END",
    )
    with Session(patients) as session, pytest.raises(DecryptionError) as caught:
        session.execute(select(Patient.ssn).where(Patient.id == ann_id)).all()
    assert "patients.ssn" in str(caught.value)
    assert "copied from another column or row" in str(caught.value)
    assert "222-22" not in str(caught.value)
    # a value replayed into a new row under another key: the same
    raw_sql(
        pg_database,
        f"INSERT INTO patients (id, name, age) SELECT gen_random_uuid(), 'eve', age "
        f"FROM patients WHERE id = '{ann_id}'",
    )
    with Session(patients) as session, pytest.raises(DecryptionError):
        session.execute(select(Patient.age).where(Patient.name == "eve")).all()


def test_core_orm_bulk_and_updates_by_primary_key_bind_each_row(
    engine: Engine, patients: Engine
) -> None:
    table = people()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "ssn": f"s{i}"} for i in range(1, 6)])  # many
        conn.execute(insert(table).values(id=6, ssn="s6"))  # one, values in the statement
        conn.execute(update(table).where(table.c.id == 2).values(ssn="new-2"))
        conn.execute(
            update(table).where(table.c.id == 3).values(ssn="new-3"),
        )
        conn.execute(
            pg_insert(table)
            .values(id=4, ssn="upserted")
            .on_conflict_do_update(
                index_elements=["id"], set_={"ssn": pg_insert(table).excluded.ssn}
            )
        )
        got = dict(conn.execute(select(table.c.id, table.c.ssn)).all())
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("new-2"))).all()
    assert got == {1: "s1", 2: "new-2", 3: "new-3", 4: "upserted", 5: "s5", 6: "s6"}
    assert found == [(2,)]
    several = Table(  # insert().values([...]) names each row's parameters apart
        "several",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("ssn", EncryptedText(bind_row=True)),
    )
    several.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(several).values([{"id": 7, "ssn": "s7"}, {"id": 8, "ssn": "s8"}]))
        assert dict(conn.execute(select(several.c.id, several.c.ssn)).all()) == {7: "s7", 8: "s8"}
    with Session(engine) as session:
        ann = Patient(name="ann", ssn="a", age=1)
        session.add(ann)
        session.commit()
        ann.ssn = "changed"  # an ORM UPDATE, by primary key
        session.commit()
        session.execute(update(Patient), [{"id": ann.id, "age": 99}])  # bulk, by primary key
        session.commit()
        session.expire_all()
        assert (ann.ssn, ann.age) == ("changed", 99)
        sub = select(Patient.id, Patient.ssn).subquery()  # a subquery with its primary key
        assert session.execute(select(sub.c.ssn)).scalars().all() == ["changed"]


def test_what_cannot_be_bound_to_a_row_is_refused_with_the_fix(
    engine: Engine, pg_database: PgDatabase
) -> None:
    table = people()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, email="a@x", ssn="s1"))
    serial = Table(
        "serial_people",
        MetaData(),
        Column("id", Integer, primary_key=True),  # serial: made by the server
        Column("ssn", EncryptedText(bind_row=True)),
    )
    serial.create(engine)
    with engine.begin() as conn, pytest.raises(RowBindingError) as caught:
        conn.execute(insert(serial).values(ssn="s"))
    assert "serial_people.ssn is bound to its row (bind_row=True)" in str(caught.value)
    assert "the key must be known before the INSERT" in str(caught.value)
    with engine.begin() as conn, pytest.raises(RowBindingError) as caught:
        conn.execute(update(table).where(table.c.email == "a@x").values(ssn="s2"))
    assert "WHERE id = :value" in str(caught.value)
    with engine.begin() as conn, pytest.raises(RowBindingError) as caught:
        conn.execute(
            pg_insert(table)
            .values(id=2, email="a@x", ssn="s3")
            .on_conflict_do_update(
                index_elements=["email"], set_={"ssn": pg_insert(table).excluded.ssn}
            )
        )
    assert "conflict on the primary key" in str(caught.value)
    with engine.connect() as conn, pytest.raises(RowBindingError) as caught:
        conn.execute(select(select(table.c.ssn).subquery().c.ssn)).all()
    assert "without its table's primary key" in str(caught.value)
    pairs = Table(
        "pairs",
        MetaData(),
        Column("a", Integer, primary_key=True),
        Column("b", Integer, primary_key=True),
        Column("ssn", EncryptedText(bind_row=True)),
    )
    pairs.create(engine)
    with engine.begin() as conn, pytest.raises(ColumnOptionError) as refused:
        conn.execute(insert(pairs).values(a=1, b=2, ssn="s"))
    assert "pairs.ssn is bound to its row" in str(refused.value)
    assert "row binding needs a one-column primary key" in str(refused.value)
    # nothing was written by the refused statements
    assert stored(pg_database, "SELECT count(*) FROM people") == [(1,)]
    assert stored(pg_database, "SELECT count(*) FROM serial_people") == [(0,)]


def test_rotate_moves_values_to_the_row_bound_form_and_older_forms_can_then_be_refused(
    engine: Engine, pg_database: PgDatabase, k1: Keyring
) -> None:
    unbound = Table(
        "people",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("email", String(40)),
        Column("ssn", EncryptedText()),
        blind_index_column("ssn", "ssn_bidx"),
    )
    unbound.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(unbound), [{"id": i, "ssn": f"s{i}"} for i in range(1, 31)])
    backup = stored(pg_database, "SELECT ssn FROM people WHERE id = 1")[0][0]
    bound = people()
    with engine.connect() as conn:  # the bound model reads the values written before
        assert conn.execute(select(bound.c.ssn).where(bound.c.id == 1)).scalar() == "s1"
    report = rotate(
        engine,
        "people",
        "ssn",
        blind_index_column="ssn_bidx",
        column_type=bound.c.ssn.type,
        batch_size=7,
    )
    assert (report.rotated, report.remaining) == (30, 0)
    assert stored(pg_database, "SELECT DISTINCT get_byte(ssn, 0) FROM people") == [(AEAD_ROW,)]
    again = rotate(
        engine, "people", "ssn", blind_index_column="ssn_bidx", column_type=bound.c.ssn.type
    )
    assert again.rotated == 0
    # a rotation without the type keeps each value's binding: nothing moves back (without the
    # index too, which it would refuse to leave behind)
    raw_sql(pg_database, "UPDATE people SET ssn_bidx = NULL")
    assert rotate(engine, "people", "ssn").rotated == 0
    with engine.connect() as conn:
        assert dict(conn.execute(select(bound.c.id, bound.c.ssn)).all()) == {
            i: f"s{i}" for i in range(1, 31)
        }
    # the old, unbound value put back from a backup still reads while older forms are allowed,
    # and is refused once they are not
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("UPDATE people SET ssn = %s WHERE id = 1", (backup,))
    assert backup[0] == AEAD_V2
    with engine.connect() as conn:
        assert conn.execute(select(bound.c.ssn).where(bound.c.id == 1)).scalar() == "s1"
        strict = people(older_forms=False)
        with pytest.raises(DecryptionError, match="older form"):
            conn.execute(select(strict.c.ssn).where(strict.c.id == 1)).all()
        assert conn.execute(select(strict.c.ssn).where(strict.c.id == 2)).scalar() == "s2"


PEOPLE = people()  # what `hardening rotate --type tests.crypto.test_row_binding:PEOPLE.c.ssn` names


def test_hardening_rotate_type_and_encrypt_column_write_the_row_bound_form(
    engine: Engine, pg_database: PgDatabase, k1: Keyring
) -> None:
    raw_sql(pg_database, "CREATE TABLE people (id int PRIMARY KEY, email text, ssn text)")
    raw_sql(
        pg_database, "INSERT INTO people SELECT i, NULL, 'ssn-' || i FROM generate_series(1, 30) i"
    )
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        with ctx.begin_transaction():
            Operations(ctx).encrypt_column(  # type: ignore[attr-defined]
                "people", "ssn", EncryptedText(bind_row=True), batch_size=7
            )
    assert stored(pg_database, "SELECT DISTINCT get_byte(ssn, 0) FROM people") == [(AEAD_ROW,)]
    model = Table(
        "people",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText(bind_row=True)),
    )
    with engine.connect() as conn:
        assert conn.execute(select(model.c.ssn).where(model.c.id == 3)).scalar() == "ssn-3"
    raw_sql(
        pg_database, "UPDATE people SET ssn = (SELECT ssn FROM people WHERE id = 4) WHERE id = 3"
    )
    with engine.connect() as conn, pytest.raises(DecryptionError):
        conn.execute(select(model.c.ssn).where(model.c.id == 3)).all()
    # a key rotation by the command line, given the model's type, keeps the rows bound
    raw_sql(pg_database, "UPDATE people SET ssn = NULL WHERE id = 3")
    keys.configure_keys(Keyring([Key("k2", os.urandom(32)), *k1.keys]))
    url = pg_database.url.render_as_string(hide_password=False)
    spec = "tests.crypto.test_row_binding:PEOPLE.c.ssn"
    argv = ["rotate", "--url", url, "--table", "people", "--column", "ssn", "--type", spec]
    assert cli.main(argv) == 0
    heads = stored(
        pg_database, "SELECT DISTINCT substr(ssn, 1, 4) FROM people WHERE ssn IS NOT NULL"
    )
    assert heads == [(b"\x04\x02k2",)]
    with engine.connect() as conn:
        assert conn.execute(select(model.c.ssn).where(model.c.id == 5)).scalar() == "ssn-5"
    assert cli.main([*argv[:-1], "no.such.module:X"]) == 2


@pytest.mark.parametrize(
    ("key_type", "keys"),
    [
        (Integer(), [-(2**31), 7]),
        (String(20), ["ann:1", "ünï"]),  # a ':' and UTF-8 in the key itself
        (Uuid(), [uuid.UUID(int=1), uuid.UUID(int=2**127)]),
    ],
    ids=["integer", "text", "uuid"],
)
def test_each_kind_of_primary_key_binds_its_rows(
    engine: Engine, pg_database: PgDatabase, key_type: Any, keys: list[Any]
) -> None:
    table = Table(
        "kinds",
        MetaData(),
        Column("id", key_type, primary_key=True, autoincrement=False),
        Column("secret", EncryptedText(bind_row=True)),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": k, "secret": f"s-{i}"} for i, k in enumerate(keys)])
        assert [r.secret for r in conn.execute(select(table).order_by(table.c.id))] == [
            f"s-{i}" for i in sorted(range(len(keys)), key=lambda i: keys[i])
        ]
    raw_sql(pg_database, "UPDATE kinds SET secret = (SELECT secret FROM kinds ORDER BY id LIMIT 1)")
    with engine.connect() as conn, pytest.raises(DecryptionError):
        conn.execute(select(table.c.secret)).all()
