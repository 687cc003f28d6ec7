"""A value under a key id the keyring lacks reads the keys again, but not on every row: a
forged or long-gone key id costs one read of the key source, not one per value."""

from __future__ import annotations

import os
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.engine import Engine

from hardening import keys
from hardening.crypto import reloads
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedText, KeyNotFoundError

K1 = ("k1", os.urandom(32))
K2 = ("k2", os.urandom(32))


class Clock:
    """Stands for time.monotonic: moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(reloads, "clock", fake)
    return fake


class Hook:
    """A key hook (a KMS or Vault client) that counts its calls."""

    def __init__(self, *pairs: tuple[str, bytes]) -> None:
        self.pairs = list(pairs)
        self.calls = 0

    def __call__(self) -> list[tuple[str, bytes]]:
        self.calls += 1
        return list(self.pairs)


@pytest.fixture
def engine(keyless_engine: Engine) -> Engine:
    return keyless_engine


def forged_rows(engine: Engine, pg_database: PgDatabase, column: Any, *forged: str) -> Table:
    """Table ``notes``: row 1 a value under the keyring's key, then one row per key id in
    ``forged``, each a well-formed envelope under that id (30 random bytes of body)."""
    table = Table("notes", MetaData(), Column("id", Integer, primary_key=True), column)
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v="readable"))
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        for i, kid in enumerate(forged, start=2):
            value = bytes((1, len(kid))) + kid.encode() + os.urandom(30)
            conn.execute("INSERT INTO notes (id, v) VALUES (%s, %s)", (i, value))
    return table


def read(engine: Engine, table: Table, row: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(table.c.v).where(table.c.id == row)).scalar_one()


def test_fifty_reads_of_a_forged_key_id_call_the_key_hook_once(
    engine: Engine, pg_database: PgDatabase, clock: Clock
) -> None:
    hook = Hook(K1)
    keys.configure_keys(hook)
    assert hook.calls == 1  # configure_keys reads the hook once
    table = forged_rows(engine, pg_database, Column("v", EncryptedText()), "forged", "other")
    for _ in range(50):
        with pytest.raises(KeyNotFoundError, match="key id 'forged'"):
            read(engine, table, 2)
        assert read(engine, table, 1) == "readable"
    assert hook.calls == 2  # one reload for 'forged', then it is known to be unknown

    clock.now += reloads.RELOAD_INTERVAL / 2  # another unknown id, too soon after: no reload
    with pytest.raises(KeyNotFoundError, match="key id 'other'"):
        read(engine, table, 3)
    assert hook.calls == 2

    clock.now += reloads.RELOAD_INTERVAL  # later: 'other' may be a new key, one reload
    for _ in range(10):
        with pytest.raises(KeyNotFoundError, match="key id 'other'"):
            read(engine, table, 3)
    assert hook.calls == 3
    with pytest.raises(KeyNotFoundError, match="key id 'forged'"):  # still known unknown
        read(engine, table, 2)
    assert hook.calls == 3


def test_a_new_key_id_is_still_found_by_a_reload(
    engine: Engine, pg_database: PgDatabase, clock: Clock
) -> None:
    """Another instance writes under a key added to the source: the first value under it
    reads the source again and decrypts; the keys the columns cached stay in use."""
    hook = Hook(K1)
    keys.configure_keys(hook)
    table = forged_rows(engine, pg_database, Column("v", EncryptedText()))
    newer = Table(
        "notes",
        MetaData(),
        Column("id", Integer),
        Column("v", EncryptedText(keys=Keyring.from_pairs([K2]))),
    )
    with engine.begin() as conn:
        conn.execute(insert(newer).values(id=2, v="under k2"))
    hook.pairs = [K2, K1]
    assert read(engine, table, 2) == "under k2"
    assert hook.calls == 2
    assert keys.default_keyring().ids == ("k2", "k1")


def test_a_columns_own_key_hook_is_called_once_for_a_forged_key_id(
    engine: Engine, pg_database: PgDatabase, clock: Clock
) -> None:
    hook = Hook(K1)
    table = forged_rows(engine, pg_database, Column("v", EncryptedText(keys=hook)), "forged")
    calls = hook.calls
    for _ in range(50):
        with pytest.raises(KeyNotFoundError, match="key id 'forged'"):
            read(engine, table, 2)
    assert hook.calls == calls + 1


def test_a_reload_that_finds_the_same_keys_keeps_the_columns_key_objects(
    engine: Engine, pg_database: PgDatabase, clock: Clock
) -> None:
    hook = Hook(K1)
    keys.configure_keys(hook)
    column: Column[str] = Column("v", EncryptedText())
    table = forged_rows(engine, pg_database, column, "forged")
    assert read(engine, table, 1) == "readable"
    cipher = column.type.cipher  # type: ignore[attr-defined]
    opened = dict(cipher._dec)
    with pytest.raises(KeyNotFoundError):
        read(engine, table, 2)
    assert hook.calls == 2
    assert dict(cipher._dec) == opened  # the reload found k1 again: nothing was dropped
