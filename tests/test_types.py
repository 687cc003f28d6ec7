"""Encrypted column types against a real PostgreSQL: round trips, bytes at rest, and failures."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
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
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from hardening import errors, keys, migrate
from hardening.blind_index import mapped_blind_index
from hardening.keys import Keyring
from hardening.settings import libpq_dsn
from hardening.testing import LogCursor
from hardening.testing.plugin import PgDatabase
from hardening.types import (
    ColumnContextError,
    DecryptionError,
    EncryptedBoolean,
    EncryptedBytes,
    EncryptedComparisonError,
    EncryptedDate,
    EncryptedDateTime,
    EncryptedFloat,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    EncryptedTime,
    EncryptedUUID,
    EncryptedValueError,
    InlineKeyError,
    KeyNotFoundError,
    PGPBytes,
    PGPText,
)


def ring(*ids: str) -> Keyring:
    return Keyring.from_pairs((kid, os.urandom(32)) for kid in ids)


@pytest.fixture
def k1() -> Iterator[Keyring]:
    keyring = ring("k1")
    keys.configure_keys(keyring)
    yield keyring
    keys.configure_keys(None)


@pytest.fixture
def engine(pg_database: PgDatabase, k1: Keyring) -> Iterator[Engine]:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    eng = create_engine(pg_database.url)
    yield eng
    eng.dispose()


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    ssn: Mapped[str | None] = mapped_column(EncryptedText())
    ssn_bidx: Mapped[bytes | None] = mapped_blind_index("ssn")
    note: Mapped[str | None] = mapped_column(PGPText())
    email: Mapped[str | None] = mapped_column(PGPText())
    email_bidx: Mapped[bytes | None] = mapped_blind_index("email")


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


def test_orm_update_refreshes_the_blind_index(engine: Engine) -> None:
    Base.metadata.create_all(engine)
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
    Base.metadata.create_all(engine)
    people = Base.metadata.tables["people"]
    with engine.begin() as conn:
        conn.execute(insert(people), [{"ssn": f"ssn-{i}", "email": f"{i}@x"} for i in range(50)])
    with Session(engine) as session:
        session.execute(insert(Person), [{"ssn": "bulk-1"}, {"ssn": "bulk-2"}])
        session.commit()
        assert len(session.scalars(select(Person).where(Person.ssn.blind_eq("ssn-7"))).all()) == 1
        assert len(session.scalars(select(Person).where(Person.email.blind_eq("9@x"))).all()) == 1
        assert len(session.scalars(select(Person).where(Person.ssn.blind_eq("bulk-2"))).all()) == 1
        assert session.scalar(select(Person.ssn).where(Person.ssn.blind_eq("ssn-49"))) == "ssn-49"


def _one_row(engine: Engine, type_: Any, value: Any) -> Table:
    table = Table(
        "secrets",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("a", type_()),
        Column("b", type_()),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, a=value, b=value))
    return table


def _read(engine: Engine, table: Table) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(table.c.a)).scalar_one()


def _raw(pg_database: PgDatabase, sql: str) -> Any:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        row = cur.fetchone() if cur.description else None
    return row[0] if row else None


FAMILIES = [EncryptedText, PGPText]


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_flipped_bit_is_a_decryption_error_naming_column_and_key(
    engine: Engine, pg_database: PgDatabase, type_: Any
) -> None:
    table = _one_row(engine, type_, "top secret")
    _raw(
        pg_database,
        "UPDATE secrets SET a = set_byte(a, length(a) - 5, get_byte(a, length(a) - 5) # 1)",
    )
    with pytest.raises(DecryptionError, match=r"secrets\.a.*'k1'") as info:
        _read(engine, table)
    assert "top secret" not in str(info.value)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_value_copied_to_another_column_does_not_decrypt(
    engine: Engine, pg_database: PgDatabase, type_: Any
) -> None:
    table = _one_row(engine, type_, "alpha")
    with engine.begin() as conn:
        conn.execute(update(table).values(b="beta"))
    _raw(pg_database, "UPDATE secrets SET a = b")
    with pytest.raises(DecryptionError, match=r"secrets\.a"):
        _read(engine, table)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_truncated_value_is_a_decryption_error(
    engine: Engine, pg_database: PgDatabase, type_: Any
) -> None:
    table = _one_row(engine, type_, "a longer secret value")
    _raw(pg_database, "UPDATE secrets SET a = substr(a, 1, length(a) - 10)")
    with pytest.raises(DecryptionError, match=r"secrets\.a"):
        _read(engine, table)
    _raw(pg_database, "UPDATE secrets SET a = substr(a, 1, 2)")
    with pytest.raises(DecryptionError, match=r"secrets\.a"):
        _read(engine, table)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_a_wrong_key_under_the_same_id_is_a_decryption_error(engine: Engine, type_: Any) -> None:
    table = _one_row(engine, type_, "written with the first k1")
    keys.configure_keys(ring("k1"))
    with pytest.raises(DecryptionError, match=r"secrets\.a.*'k1'") as info:
        _read(engine, table)
    assert "written with" not in str(info.value)


@pytest.mark.parametrize("type_", FAMILIES, ids=lambda t: t.__name__)
def test_an_unknown_key_id_is_a_key_not_found_error_naming_it(engine: Engine, type_: Any) -> None:
    table = _one_row(engine, type_, "under k1")
    keys.configure_keys(ring("k2"))
    with pytest.raises(KeyNotFoundError, match=r"'k1'.*secrets\.a.*'k2'"):
        _read(engine, table)


def test_rows_under_an_old_key_read_after_a_new_key_is_prepended(
    engine: Engine, k1: Keyring
) -> None:
    table = _one_row(engine, EncryptedText, "old")
    pgp = _pgp_table(engine)
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


def _pgp_table(engine: Engine) -> Table:
    table = Table(
        "pgp", MetaData(), Column("id", Integer, primary_key=True), Column("v", PGPText())
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v="old"))
    return table


def test_comparisons_that_cannot_work_on_ciphertext_raise_when_the_query_is_built() -> None:
    builders: list[Callable[[Any], Any]] = [
        lambda c: c == "x",
        lambda c: c != "x",
        lambda c: c.like("x%"),
        lambda c: c.ilike("x%"),
        lambda c: c.startswith("x"),
        lambda c: c.contains("x"),
        lambda c: c < "x",
        lambda c: c >= "x",
        lambda c: c.in_(["x"]),
        lambda c: c.asc(),
        lambda c: c.desc(),
        lambda c: c.between("a", "b"),
    ]
    for attr in (Person.ssn, Person.note):
        for build in builders:
            with pytest.raises(EncryptedComparisonError, match=r"blind_eq|application"):
                build(attr)
    assert "IS NULL" in str(select(Person).where(Person.ssn.is_(None)))
    assert "IS NOT NULL" in str(select(Person).where(Person.note != None))  # noqa: E711


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


def test_reprs_and_errors_show_key_ids_only(k1: Keyring) -> None:
    secret = k1.active.derive("aead/v1")
    material = k1.active._material
    texts = [repr(k1), repr(k1.active), repr(Person.__table__.c.ssn.type), str(k1.keys)]
    for text in texts:
        assert "k1" in text or "people.ssn" in text
        assert material.hex() not in text
        assert secret.hex() not in text
        assert str(material) not in text


def test_an_unattached_type_names_the_fix(k1: Keyring) -> None:
    with pytest.raises(errors.EncryptionError, match=r"context='table\.column'"):
        EncryptedText().encrypt("x")
    assert EncryptedText(context="t.c").decrypt(EncryptedText(context="t.c").encrypt("x")) == "x"


def test_server_log_holds_no_key_and_no_plaintext(
    pg_server_factory: Callable[[dict[str, str]], Any], k1: Keyring
) -> None:
    server = pg_server_factory({"log_statement": "all"})
    with (
        server.database() as url,
        psycopg.connect(libpq_dsn(url), autocommit=True) as conn,
    ):
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        for setting in ("log_parameter_max_length", "log_parameter_max_length_on_error"):
            conn.execute(f'ALTER DATABASE "{url.database}" SET {setting} = 0')
        log = server.log_cursor()
        eng = create_engine(url)
        try:
            Base.metadata.create_all(eng)
            with Session(eng) as session:
                session.add(Person(ssn="SSN-PLAINTEXT-1", note="NOTE-PLAINTEXT-2"))
                session.commit()
                assert session.scalars(select(Person.note)).one() == "NOTE-PLAINTEXT-2"
            keys.configure_keys(ring("k1"))  # wrong key: the failing statement is logged too
            with Session(eng) as session, pytest.raises(DecryptionError):
                session.scalars(select(Person.note)).all()
        finally:
            eng.dispose()
        text = log.settle()
    assert "pgp_sym_encrypt(" in text  # statements are logged...
    assert "Wrong key or corrupt data" in text
    state = Person.__table__.c.note.type.cipher  # type: ignore[attr-defined]
    secrets = [
        "SSN-PLAINTEXT-1",
        "NOTE-PLAINTEXT-2",
        base64.b64encode(k1.active._material).decode(),
        state.pgp_password(k1.active),
        b"NOTE-PLAINTEXT-2".hex(),
    ]
    for secret in secrets:  # ...but no parameter values
        assert secret not in text


def test_sqlalchemy_echo_logs_no_key_and_no_plaintext(
    engine: Engine, k1: Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    Base.metadata.create_all(engine)
    engine.echo = True
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"), Session(engine) as session:
        session.add(Person(ssn="SSN-PLAINTEXT-1", note="NOTE-PLAINTEXT-2"))
        session.commit()
        assert session.scalars(select(Person.note)).one() == "NOTE-PLAINTEXT-2"
    state = Person.__table__.c.note.type.cipher  # type: ignore[attr-defined]
    assert "pgp_sym_encrypt(" in caplog.text
    assert "[REDACTED]" in caplog.text
    for secret in ("SSN-PLAINTEXT-1", "NOTE-PLAINTEXT-2", state.pgp_password(k1.active)):
        assert secret not in caplog.text


def test_order_by_an_encrypted_column_is_refused_before_it_runs(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Person(ssn="b"))
        session.commit()
        for column in (Person.ssn, Person.note):
            with pytest.raises(EncryptedComparisonError, match="ORDER BY"):
                session.scalars(select(Person).order_by(column)).all()
        assert session.scalars(select(Person.ssn).order_by(Person.id)).all() == ["b"]


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


@pytest.mark.parametrize(
    ("type_", "bad"),
    [
        (EncryptedText, b"BYTES-PLAINTEXT-1"),
        (EncryptedInteger, "INT-PLAINTEXT-2"),
        (EncryptedDate, "2024-DATE-PLAINTEXT-3"),
        (EncryptedJSON, {"k": {"SET-PLAINTEXT-4"}}),
        (EncryptedNumeric, "NUMERIC-PLAINTEXT-6"),
        (EncryptedUUID, "UUID-PLAINTEXT-7"),
        (PGPText, 12345678987654321),
        (PGPBytes, "PGP-STR-PLAINTEXT-5"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_clear_error_that_never_echoes_the_row(
    engine: Engine, type_: Any, bad: Any
) -> None:
    table = Table(
        "wrong_types", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_())
    )
    table.create(engine)
    other = "OTHER-PLAINTEXT-IN-THE-SAME-ROW"
    table.append_column(Column("w", EncryptedText()), replace_existing=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE wrong_types ADD COLUMN w bytea")
    for stmt, params in (
        (insert(table), {"id": 1, "v": bad, "w": other}),
        (insert(table), [{"id": 2, "v": bad, "w": other}, {"id": 3, "v": bad, "w": other}]),
    ):
        # the kit's error itself, not SQLAlchemy's StatementError listing the parameters
        with engine.begin() as conn, pytest.raises(EncryptedValueError) as caught:
            conn.execute(stmt, params)
        assert isinstance(caught.value, TypeError)
        text = repr(caught.value) + _chain_text(caught.value)
        assert str(caught.value) == (
            f"{type_.__name__} of wrong_types.v cannot store a {type(bad).__name__} value; "
            f"it expects {type_()._python_type_name()}"
        )
        assert caught.value.__context__ is None
        for secret in (repr(bad), str(bad), other):
            assert secret not in text


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and every exception it holds on to: ``__cause__`` and ``__context__``, also a
    context a traceback would not print (``from None``), since it stays on the object."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        todo += [exc.__cause__, exc.__context__]


def _chain_text(exc: BaseException) -> str:
    """Everything the exceptions of ``exc``'s chain say and hold."""
    return "".join(
        str(e) + repr(e) + repr(vars(e)) + repr(e.args) + repr(getattr(e, "object", ""))
        for e in _chain(exc)
    )


def _legacy_table(engine: Engine, stored: bytes, type_: Any) -> Table:
    """Table ``legacy`` with ``stored`` written as raw bytes, read back through ``type_``."""
    meta = MetaData()
    raw = Table("legacy", meta, Column("id", Integer, primary_key=True), Column("v", LargeBinary))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(raw).values(id=1, v=stored))
    return Table("legacy", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_))


@pytest.mark.parametrize(
    ("type_", "stored"),
    [
        (EncryptedInteger, b"INT-PLAINTEXT-1"),
        (EncryptedFloat, b"FLOAT-PLAINTEXT-2"),
        (EncryptedDate, b"DATE-PLAINTEXT-3"),
        (EncryptedJSON, b"{JSON-PLAINTEXT-4"),
        (EncryptedText, b"\xffTEXT-PLAINTEXT-5"),
        (EncryptedBoolean, b"BOOL-PLAINTEXT-6"),
    ],
)
def test_a_stored_value_that_is_not_of_the_column_type_is_an_error_naming_the_column_only(
    engine: Engine, type_: Any, stored: bytes
) -> None:
    """A legacy plaintext row the type cannot parse: the error names the column, not the value."""
    typed = _legacy_table(engine, stored, type_(legacy_plaintext=True))
    with engine.connect() as conn, pytest.raises(DecryptionError, match=r"legacy\.v") as caught:
        conn.execute(select(typed.c.v)).all()
    assert "PLAINTEXT" not in _chain_text(caught.value)


def test_a_database_error_on_insert_shows_ciphertext_and_redactions_only(
    engine: Engine, k1: Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    """IntegrityError text lists the bound parameters: never a plaintext nor a key."""
    meta = MetaData()
    table = Table(
        "strict",
        meta,
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText()),
        Column("note", PGPText()),
        Column("must", Integer, nullable=False),
    )
    meta.create_all(engine)
    rows = [{"id": 1, "ssn": "SSN-PLAINTEXT-1", "note": "NOTE-PLAINTEXT-2", "must": None}]
    engine.echo = True
    with (
        caplog.at_level(logging.INFO, logger="sqlalchemy.engine"),
        engine.begin() as conn,
        pytest.raises(IntegrityError) as caught,
    ):
        conn.execute(insert(table), rows)
    state = table.c.note.type.cipher  # type: ignore[attr-defined]
    text = str(caught.value) + caplog.text
    assert "not-null" in text
    assert "[REDACTED]" in text
    for secret in ("SSN-PLAINTEXT-1", "NOTE-PLAINTEXT-2", state.pgp_password(k1.active)):
        assert secret not in text


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        (b"\x01\x02k9" + bytes(27), None),  # unknown key id, too short for nonce + tag
        (b"\x01\x02k9" + bytes(28), KeyNotFoundError),  # a complete envelope under it
        (b"\x01\x02k1" + bytes(27), DecryptionError),  # known key id: a truncated envelope
        (b"\x02\x02k9" + bytes(40), None),  # a pgcrypto envelope is no AEAD one
        (b"\x01\x02k!" + bytes(40), None),  # no key id
        (b"plain bytes", None),
    ],
    ids=["short-unknown-id", "complete-unknown-id", "short-known-id", "pgp", "bad-id", "plain"],
)
def test_legacy_plaintext_returns_exactly_what_is_no_aead_envelope(
    engine: Engine, stored: bytes, error: type[Exception] | None
) -> None:
    typed = _legacy_table(engine, stored, EncryptedBytes(legacy_plaintext=True))
    with engine.connect() as conn:
        if error is None:
            assert conn.execute(select(typed.c.v)).scalar_one() == stored
        else:
            with pytest.raises(error) as caught:
                conn.execute(select(typed.c.v)).all()
            assert "legacy.v" in str(caught.value)
            assert f"key id '{stored[2:4].decode()}'" in str(caught.value)


@pytest.mark.parametrize(
    ("type_", "stored", "error", "message"),
    [
        (
            PGPText,
            b"SSN-RAW-PLAINTEXT-123-45-6789",
            DecryptionError,
            "cannot decrypt a value of rawpgp.v (unknown key id): the stored value is not a "
            "pgcrypto envelope (written without the column's type, e.g. plaintext stored by "
            "plain SQL); re-write it through the column's type",
        ),
        (
            PGPBytes,
            b"\x02\x20NOT A KEY ID: RAW-PLAINTEXT-BYTES-0123456789",
            DecryptionError,
            "cannot decrypt a value of rawpgp.v (unknown key id): the stored value is not a "
            "pgcrypto envelope (written without the column's type, e.g. plaintext stored by "
            "plain SQL); re-write it through the column's type",
        ),
        (
            PGPText,
            b"\x02\x02k9" + b"RAW-PLAINTEXT-AFTER-A-HEADER",
            KeyNotFoundError,
            "key id 'k9' needed to decrypt a value of rawpgp.v is not in the keyring (it holds "
            "'k1'); add the old key back to HARDENING_KEYS after the active one",
        ),
    ],
    ids=["plaintext", "bad-key-id", "unknown-key-id"],
)
def test_plaintext_stored_in_a_pgcrypto_column_never_reaches_the_error_or_the_server_log(
    engine: Engine,
    pg_database: PgDatabase,
    pg_log: LogCursor,
    type_: Any,
    stored: bytes,
    error: type[Exception],
    message: str,
) -> None:
    typed = Table(
        "rawpgp", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_())
    )
    typed.create(engine)
    with psycopg.connect(pg_database.dsn, autocommit=True) as raw:
        raw.execute("INSERT INTO rawpgp VALUES (1, %s)", (stored,))
    with engine.connect() as conn, pytest.raises(error) as caught:
        conn.execute(select(typed.c.v)).all()
    assert str(caught.value) == message
    log = pg_log.settle()
    assert "pg-hardening: " in log  # the failing cast was logged...
    secret = stored[4:].decode()
    assert "RAW-PLAINTEXT" in secret
    assert "RAW-PLAINTEXT" not in _chain_text(caught.value)  # ...but no stored byte
    assert "RAW-PLAINTEXT" not in log


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
    other = aliased(Person)
    with Session(engine) as session:  # two rows' ciphertexts: meaningless, refused when run
        for compared in (Person.ssn == other.ssn, Person.note != other.note):
            with pytest.raises(EncryptedComparisonError, match="a comparison with the encrypted"):
                session.execute(select(Person.id).join(other, compared)).all()


def test_order_by_an_encrypted_column_is_refused_at_any_depth(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Person(id=1, ssn="b", note="b"), Person(id=2, ssn="a", note="a")])
        session.commit()
        sub = select(Person.id, Person.ssn).order_by(Person.ssn).limit(5).subquery()
        ranked = select(Person.id, func.row_number().over(order_by=Person.note))
        union = union_all(select(Person.ssn), select(Person.note)).order_by(Person.ssn)
        cte = select(Person.id).order_by(Person.note).limit(1).cte()
        statements: list[Any] = [select(sub.c.id), ranked, union, select(cte.c.id)]
        for stmt in statements:
            with pytest.raises(EncryptedComparisonError) as caught:
                session.execute(stmt).all()
            assert str(caught.value) in (
                f"ORDER BY the encrypted column {name!r} would sort ciphertext, not values; "
                "sort in the application instead"
                for name in ("people.ssn", "people.note")
            )
        plain = select(Person.id, func.row_number().over(order_by=Person.id)).order_by(Person.id)
        assert session.execute(plain).all() == [(1, 1), (2, 2)]


def test_a_pgcrypto_wrong_key_names_the_candidate_key_ids(engine: Engine) -> None:
    table = _one_row(engine, PGPText, "written under the first k1")
    keys.configure_keys(ring("k2", "k1"))
    with pytest.raises(DecryptionError) as caught:
        _read(engine, table)
    assert str(caught.value) == (
        "cannot decrypt a value of secrets.a (key id one of 'k2', 'k1'): pgcrypto could not "
        "decrypt it: wrong key, or the value was altered, truncated or copied from another column"
    )


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


def test_encrypted_values_are_never_rendered_as_sql_literals(k1: Keyring) -> None:
    """literal_binds (Alembic --sql, op.bulk_insert offline) would put the value in the SQL
    text; SQLAlchemy's own error for a failing literal quotes it. The kit refuses first."""
    for column in (Person.ssn, Person.note):
        stmt = insert(Person).values({column: "123-45-6789"})
        with pytest.raises(InlineKeyError) as caught:
            stmt.compile(compile_kwargs={"literal_binds": True})
        assert "SQL text" in str(caught.value)
        assert "bind parameters" in str(caught.value)
        assert "123-45-6789" not in _chain_text(caught.value)
    with pytest.raises(InlineKeyError, match=r"EncryptedText values of people\.ssn cannot be"):
        insert(Person).values(ssn="x").compile(compile_kwargs={"literal_binds": True})


@pytest.mark.filterwarnings("ignore:Passing expression to ``distinct``")  # 2.0's DISTINCT ON
def test_sql_that_would_work_on_ciphertext_is_refused_before_it_runs(engine: Engine) -> None:
    """ORDER BY or GROUP BY a column named by a string (in the select list or not), GROUP BY
    ROLLUP, PARTITION BY, DISTINCT (ON), UNION / INTERSECT / EXCEPT, comparisons with another
    column or in a tuple, count(DISTINCT ..): each would return wrong rows."""
    from sqlalchemy import except_, intersect, literal, tuple_, union
    from sqlalchemy.dialects.postgresql import distinct_on

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Person(id=1, ssn="a", note="a"), Person(id=2, ssn="a", note="a")])
        session.commit()
        ssn = "the encrypted column 'people.ssn'"
        by_ssn = select(Person.ssn).where(Person.id == 1)
        refused: list[tuple[Any, str]] = [
            (select(Person.id, Person.ssn).order_by("ssn"), f"ORDER BY {ssn} would sort"),
            (select(Person.id).order_by("ssn"), f"ORDER BY {ssn}"),  # not in the select list
            (select(Person.ssn).order_by(func.coalesce(Person.ssn, None)), f"ORDER BY {ssn}"),
            (select(Person.ssn, func.count()).group_by(Person.ssn), f"GROUP BY {ssn} would"),
            (select(func.count()).select_from(Person).group_by("ssn"), f"GROUP BY {ssn}"),
            (select(Person.note, func.count()).group_by("note"), "GROUP BY the encrypted"),
            (select(func.count()).select_from(Person).group_by(func.rollup(Person.ssn)), ssn),
            (select(func.row_number().over(partition_by=Person.ssn)), f"PARTITION BY {ssn}"),
            (select(Person.id).where(tuple_(Person.id, Person.ssn).in_([(2, "a")])), ssn),
            (select(Person.id).where(Person.ssn == Person.note), f"comparison with {ssn}"),
            (select(Person.ssn).distinct(), f"SELECT DISTINCT of {ssn} without"),
            (select(Person.id, Person.ssn).distinct(Person.ssn), f"DISTINCT ON {ssn}"),
            (select(Person.id).ext(distinct_on(Person.ssn)), f"DISTINCT ON {ssn}"),
            (select(Person.ssn).distinct().subquery().select(), "SELECT DISTINCT"),
            (union(by_ssn, select(Person.ssn).where(Person.id == 2)), f"UNION of {ssn}"),
            (intersect(by_ssn, by_ssn), f"INTERSECT of {ssn}"),
            (except_(by_ssn, select(Person.ssn).where(Person.id == 2)), f"EXCEPT of {ssn}"),
            (union_all(select(Person.ssn)).order_by("ssn"), "ORDER BY"),
        ]
        for stmt, text in refused:
            with pytest.raises(EncryptedComparisonError, match=re.escape(text)):
                session.execute(stmt).all()
        for column in (Person.ssn, Person.note):
            with pytest.raises(EncryptedComparisonError, match="'distinct'"):
                func.count(column.distinct())
        # With the primary key in the same list, a group, partition or DISTINCT row is one
        # table row, whose ciphertext is as distinct as the row (the ORM's de-duplication of
        # joined rows); a pgcrypto column is decrypted in the select list, so DISTINCT and
        # UNION see values.
        allowed: list[tuple[Any, int]] = [
            (select(Person.id, Person.ssn).distinct(), 2),
            (select(Person.id.label("i"), Person.ssn.label("s")).distinct(), 2),
            (select(Person).distinct().order_by(Person.id), 2),
            (select(Person.id, Person.ssn, func.count()).group_by(Person.id, Person.ssn), 2),
            (select(func.count()).select_from(Person).group_by(Person.ssn, Person.id), 2),
            (select(func.row_number().over(partition_by=[Person.id, Person.ssn])), 2),
            (select(Person.id, Person.ssn).ext(distinct_on(Person.id)), 2),
            (select(Person.note).distinct(), 1),
            (union(select(Person.note), select(Person.note)), 1),
            (union_all(select(Person.ssn), select(Person.ssn)), 4),
            (select(Person.id).order_by("id"), 2),
            (select(Person.id).where(Person.ssn.is_(None) | (literal(1) == 1)), 2),
        ]
        for stmt, rows in allowed:
            assert len(session.execute(stmt).all()) == rows, stmt
        # SQLAlchemy compares columns (`c in columns`) to build INSERT .. RETURNING
        made = session.scalars(insert(Person).returning(Person), [{"id": 3, "ssn": "c"}]).all()
        assert [p.ssn for p in made] == ["c"]


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


def test_a_missing_key_reaches_the_application_as_the_kits_error(pg_database: PgDatabase) -> None:
    """Not wrapped in SQLAlchemy's StatementError: ``except KeyConfigError`` catches it on an
    insert as on a read."""
    keys.configure_keys(None)
    saved = {k: os.environ.pop(k, None) for k in (keys.ENV_KEYS, keys.ENV_KEYS_FILE)}
    table = Table(
        "nokeys", MetaData(), Column("id", Integer, primary_key=True), Column("v", EncryptedText())
    )
    eng = create_engine(pg_database.url)
    try:
        table.create(eng)
        with eng.begin() as conn, pytest.raises(errors.KeyConfigError, match="are unset"):
            conn.execute(insert(table), {"id": 1, "v": "x"})
    finally:
        eng.dispose()
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
