"""The models, keyrings and helpers the encrypted-column tests share."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterator
from typing import Any

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedText, Keyring, PGPText, mapped_blind_index


def ring(*ids: str) -> Keyring:
    return Keyring.from_pairs((kid, os.urandom(32)) for kid in ids)


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


def one_row(engine: Engine, type_: Any, value: Any) -> Table:
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


def read_a(engine: Engine, table: Table) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(table.c.a)).scalar_one()


def raw_sql(pg_database: PgDatabase, sql: str) -> Any:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        row = cur.fetchone() if cur.description else None
    return row[0] if row else None


FAMILIES = [EncryptedText, PGPText]  # one type of each family


def pgp_table(engine: Engine) -> Table:
    table = Table(
        "pgp", MetaData(), Column("id", Integer, primary_key=True), Column("v", PGPText())
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v="old"))
    return table


def chain(exc: BaseException | None) -> Iterator[BaseException]:
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


def chain_text(exc: BaseException) -> str:
    """Everything the exceptions of ``exc``'s chain say and hold."""
    return "".join(
        str(e) + repr(e) + repr(vars(e)) + repr(e.args) + repr(getattr(e, "object", ""))
        for e in chain(exc)
    )


def legacy_table(engine: Engine, stored: bytes, type_: Any) -> Table:
    """Table ``legacy`` with ``stored`` written as raw bytes, read back through ``type_``."""
    meta = MetaData()
    raw = Table("legacy", meta, Column("id", Integer, primary_key=True), Column("v", LargeBinary))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(raw).values(id=1, v=stored))
    return Table("legacy", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_))


def first_format(ring: Keyring, context: str, data: bytes) -> bytes:
    """An AEAD value as the kit's first format (1) wrote it: one key for every column
    (``aead/v1``), bound to ``table.column`` and the header, the text form inside."""
    key = ring.active
    head = bytes((1, len(key.id))) + key.id.encode()
    nonce = os.urandom(12)
    ad = b"pg-hardening\x00" + context.encode() + b"\x00" + head
    return head + nonce + AESGCM(key.derive("aead/v1")).encrypt(nonce, data, ad)


def first_format_index(ring: Keyring, context: str, data: bytes) -> bytes:
    """A blind-index value as the kit's first index format (1) wrote it: the bare
    HMAC-SHA256 of the value's text form, keyed per ``table.column``."""
    mac_key = ring.active.derive(f"blind-index/v1/{context}")
    return hmac.new(mac_key, data, hashlib.sha256).digest()


def first_format_pgp(pg_database: PgDatabase, ring: Keyring, context: str, text: str) -> bytes:
    """A pgcrypto value as the kit's first format (2) wrote it: the password derived from
    ``table.column`` only."""
    key = ring.active
    password = base64.b64encode(key.derive(f"pgcrypto/v1/{context}")).decode()
    head = bytes((2, len(key.id))) + key.id.encode()
    with psycopg.connect(pg_database.dsn) as conn:
        row = conn.execute(
            "SELECT %s::bytea || pgp_sym_encrypt(%s, %s, 'cipher-algo=aes256, s2k-mode=1')",
            (head, text, password),
        ).fetchone()
    assert row is not None
    return bytes(row[0])
