"""Where a value belongs: its schema, table and column (each part length-prefixed) bind it,
each column encrypts under its own derived key, and rotate moves values written in the
first formats to the current ones."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.engine import Engine

from hardening.blind_index import blind_index_column
from hardening.crypto.context import ColumnContext
from hardening.errors import ColumnContextError, DecryptionError
from hardening.keys import Keyring
from hardening.rotation import rotate
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedBoolean, EncryptedDate, EncryptedText, PGPText
from tests.crypto.models import first_format, first_format_index, first_format_pgp, raw_sql


def tenant(schema: str) -> Table:
    return Table(
        "users",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText()),
        Column("note", PGPText()),
        schema=schema,
    )


def test_a_value_copied_to_the_same_column_of_another_schema_does_not_decrypt(
    engine: Engine, pg_database: PgDatabase
) -> None:
    for schema in ("tenant_a", "tenant_b"):
        raw_sql(pg_database, f"CREATE SCHEMA {schema}")
        tenant(schema).create(engine)
    a, b = tenant("tenant_a"), tenant("tenant_b")
    with engine.begin() as conn:
        conn.execute(insert(a).values(id=1, ssn="111-11-1111", note="a's note"))
        conn.execute(insert(b).values(id=1, ssn="222-22-2222", note="b's note"))
    raw_sql(
        pg_database,
        "UPDATE tenant_b.users b SET ssn = a.ssn, note = a.note FROM tenant_a.users a "
        "WHERE a.id = b.id",
    )
    with engine.connect() as conn:
        assert conn.execute(select(a.c.ssn, a.c.note)).one() == ("111-11-1111", "a's note")
        with pytest.raises(DecryptionError, match=r"tenant_b\.users\.ssn"):
            conn.execute(select(b.c.ssn)).all()
    with engine.connect() as conn, pytest.raises(DecryptionError, match=r"tenant_b\.users\.note"):
        conn.execute(select(b.c.note)).all()


def test_names_that_differ_only_in_where_a_dot_falls_are_different_columns(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """``"a.b".c`` and ``a."b.c"`` were both the context ``a.b.c``."""
    dotted_table = Table(
        "a.b", MetaData(), Column("id", Integer, primary_key=True), Column("c", EncryptedText())
    )
    dotted_column = Table(
        "a", MetaData(), Column("id", Integer, primary_key=True), Column("b.c", EncryptedText())
    )
    dotted_table.create(engine)
    dotted_column.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(dotted_table).values(id=1, c="secret"))
    raw_sql(pg_database, 'INSERT INTO a (id, "b.c") SELECT id, c FROM "a.b"')
    with engine.connect() as conn, pytest.raises(DecryptionError):
        conn.execute(select(dotted_column.c["b.c"])).all()
    assert ColumnContext(None, "a.b", "c").encoded == b"0:3:a.b1:c"
    assert ColumnContext(None, "a", "b.c").encoded == b"0:1:a3:b.c"
    with pytest.raises(ColumnContextError, match="ColumnContext"):
        EncryptedText(context="a.b.c.d")


def test_each_column_encrypts_under_its_own_key_derived_from_the_keyring_key(
    engine: Engine, pg_database: PgDatabase, k1: Keyring
) -> None:
    """Each column has its own random-nonce budget: its values are under
    HKDF(key, 'pg-hardening/aead/v2/<schema><table><column>'), not the key every column of
    the first format shared."""
    table = Table(
        "users",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText()),
        Column("phone", EncryptedText()),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, ssn="same value", phone="same value"))
    with psycopg.connect(pg_database.dsn) as conn:
        row = conn.execute("SELECT ssn, phone FROM users").fetchone()
    assert row is not None
    key = k1.active
    for column, stored in zip(("ssn", "phone"), row, strict=True):
        stored = bytes(stored)
        head, nonce, sealed = stored[:4], stored[4:16], stored[16:]
        context = ColumnContext(None, "users", column).encoded
        ad = b"pg-hardening/aead/v2\x00" + context + head
        own = AESGCM(key.derive("aead/v2/" + context.decode()))
        assert own.decrypt(nonce, sealed, ad) == b"\x00same value"
        other = "phone" if column == "ssn" else "ssn"
        for wrong in (key.derive("aead/v1"), key.derive(f"aead/v2/0:5:users{len(other)}:{other}")):
            with pytest.raises(InvalidTag):
                AESGCM(wrong).decrypt(nonce, sealed, ad)


def model() -> Table:
    return Table(
        "legacy",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText()),
        blind_index_column("ssn", "ssn_bidx"),
        Column("born", EncryptedDate()),
        Column("vip", EncryptedBoolean()),
        Column("note", PGPText()),
    )


def versions(pg_database: PgDatabase) -> set[tuple[Any, ...]]:
    with psycopg.connect(pg_database.dsn) as conn:
        found = conn.execute(
            "SELECT get_byte(ssn, 0), get_byte(born, 0), get_byte(vip, 0), get_byte(note, 0), "
            "octet_length(vip) FROM legacy"
        )
        return set(found.fetchall())


def test_rotate_moves_values_of_the_first_formats_to_the_current_ones(
    engine: Engine, pg_database: PgDatabase, k1: Keyring
) -> None:
    table = model()
    table.create(engine)
    rows = [
        {
            "id": i,
            "ssn": first_format(k1, "legacy.ssn", f"ssn-{i}".encode()),
            "ssn_bidx": first_format_index(k1, "legacy.ssn", f"ssn-{i}".encode()),
            "born": first_format(k1, "legacy.born", dt.date(2000, 1, i).isoformat().encode()),
            "vip": first_format(k1, "legacy.vip", b"true" if i % 3 else b"false"),
            "note": first_format_pgp(pg_database, k1, "legacy.note", f"note {i}"),
        }
        for i in range(1, 21)
    ]
    raw = Table("legacy", MetaData(), *(Column(k) for k in rows[0]))
    with engine.begin() as conn:
        conn.execute(insert(raw), rows)
    assert versions(pg_database) == {(1, 1, 1, 2, 37), (1, 1, 1, 2, 36)}  # 'false', 'true'
    expected = {
        i: (f"ssn-{i}", dt.date(2000, 1, i), bool(i % 3), f"note {i}") for i in range(1, 21)
    }

    def read() -> dict[int, tuple[Any, ...]]:
        with engine.connect() as conn:
            got = conn.execute(
                select(table.c.id, table.c.ssn, table.c.born, table.c.vip, table.c.note)
            )
            return {r[0]: tuple(r[1:]) for r in got}

    assert read() == expected  # the first formats keep reading
    for column in ("ssn", "born", "vip"):
        report = rotate(
            engine,
            "legacy",
            column,
            column_type=table.c[column].type,
            batch_size=6,
            blind_index_column="ssn_bidx" if column == "ssn" else None,
        )
        assert (report.rotated, report.remaining) == (20, 0)
    assert rotate(engine, "legacy", "note").rotated == 20
    assert versions(pg_database) == {(3, 3, 3, 5, 34)}  # the boolean's length is now one
    assert read() == expected
    with engine.connect() as conn:
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-7"))).all()
        moved = {r[0]: r[1] for r in conn.execute(select(table.c.id, table.c.ssn_bidx))}
    assert found == [(7,)]
    # the index of a value moved from the first formats is the index of that value written now
    fresh = EncryptedText(context="legacy.ssn", padding=64)
    assert moved == {i: fresh.blind_hash(f"ssn-{i}") for i in range(1, 21)}
    assert (
        rotate(
            engine, "legacy", "ssn", blind_index_column="ssn_bidx", column_type=EncryptedText
        ).rotated
        == 0
    )
    for column in ("born", "vip", "note"):
        assert rotate(engine, "legacy", column).rotated == 0
    # the new pgcrypto password is not the first format's
    old = base64.b64encode(k1.active.derive("pgcrypto/v1/legacy.note")).decode()
    with (
        psycopg.connect(pg_database.dsn) as raw_conn,
        pytest.raises(psycopg.errors.ExternalRoutineInvocationException),
    ):
        raw_conn.execute(
            "SELECT pgp_sym_decrypt(substr(note, 5), %s) FROM legacy", (old,)
        ).fetchall()
