"""No key and no plaintext reaches a repr, SQLAlchemy's log, the server log or the SQL text."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hardening import keys
from hardening.keys import Keyring
from hardening.settings import libpq_dsn
from hardening.testing.plugin import PgDatabase
from hardening.types import DecryptionError, EncryptedText, InlineKeyError, PGPText
from tests.crypto.models import Base, Person, chain_text, ring


def test_reprs_and_errors_show_key_ids_only(k1: Keyring) -> None:
    secret = k1.active.derive("aead/v1")
    material = k1.active._material
    texts = [repr(k1), repr(k1.active), repr(Person.__table__.c.ssn.type), str(k1.keys)]
    for text in texts:
        assert "k1" in text or "people.ssn" in text
        assert material.hex() not in text
        assert secret.hex() not in text
        assert str(material) not in text


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


def test_encrypted_values_are_never_rendered_as_sql_literals(k1: Keyring) -> None:
    """literal_binds (Alembic --sql, op.bulk_insert offline) would put the value in the SQL
    text; SQLAlchemy's own error for a failing literal quotes it. The kit refuses first."""
    for column in (Person.ssn, Person.note):
        stmt = insert(Person).values({column: "123-45-6789"})
        with pytest.raises(InlineKeyError) as caught:
            stmt.compile(compile_kwargs={"literal_binds": True})
        assert "SQL text" in str(caught.value)
        assert "bind parameters" in str(caught.value)
        assert "123-45-6789" not in chain_text(caught.value)
    with pytest.raises(InlineKeyError, match=r"EncryptedText values of people\.ssn cannot be"):
        insert(Person).values(ssn="x").compile(compile_kwargs={"literal_binds": True})


def test_sqlalchemys_row_log_shows_the_kits_columns_redacted(
    engine: Engine, pg_database: PgDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """echo="debug" logs every fetched row after the result processors ran: the kit's columns
    (both families, ORM and Core, a RETURNING) show as '[REDACTED]', the others as they are."""
    Base.metadata.create_all(engine)
    debug = create_engine(pg_database.url, echo="debug")
    try:
        with caplog.at_level(logging.DEBUG, logger="sqlalchemy.engine"):
            with Session(debug) as session:
                session.add(Person(id=41, ssn="SSN-PLAINTEXT-1", note="NOTE-PLAINTEXT-2"))
                session.commit()
                person = session.scalars(select(Person)).one()
                assert (person.ssn, person.note) == ("SSN-PLAINTEXT-1", "NOTE-PLAINTEXT-2")
            table = cast(Table, Person.__table__)
            with debug.begin() as conn:
                row = conn.execute(select(table.c.id, table.c.ssn, table.c.note)).one()
                assert row == (41, "SSN-PLAINTEXT-1", "NOTE-PLAINTEXT-2")
                returned = conn.execute(
                    insert(table).values(id=42, ssn="SSN-PLAINTEXT-3").returning(table.c.ssn)
                )
                assert returned.scalar_one() == "SSN-PLAINTEXT-3"
            debug.echo = "debug"  # SQLAlchemy makes the engine a new logger: still redacted
            with debug.connect() as conn:
                assert conn.execute(select(table.c.ssn).where(table.c.id == 41)).scalar()
    finally:
        debug.dispose()
    rows = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Row ")]
    assert "Row (41, '[REDACTED]', '[REDACTED]')" in rows
    assert "Row ('[REDACTED]',)" in rows
    assert len(rows) >= 4
    for secret in ("SSN-PLAINTEXT-1", "NOTE-PLAINTEXT-2", "SSN-PLAINTEXT-3"):
        assert secret not in caplog.text
