"""A blind-index value says which key made it: rotation finds and moves the ones left behind,
refuses to leave them behind, and a lookup that could not match them raises."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

import psycopg
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.engine import Engine

from hardening import cli, keys
from hardening.blind_index import blind_index_column
from hardening.crypto.hooks import installed
from hardening.crypto.index_format import prefix_end
from hardening.errors import BlindIndexError, RotationError
from hardening.keys import Keyring
from hardening.rotation import rotate
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedText

K1, K2 = os.urandom(32), os.urandom(32)
BOTH = Keyring.from_pairs([("k2", K2), ("k1", K1)])
ONLY_K1 = Keyring.from_pairs([("k1", K1)])
ONLY_K2 = Keyring.from_pairs([("k2", K2)])


@pytest.fixture
def engine(keyless_engine: Engine) -> Engine:
    return keyless_engine


def derived(material: bytes, purpose: str) -> bytes:
    """What the docs say each purpose's key is: HKDF-SHA256, info ``pg-hardening/<purpose>``."""
    hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=f"pg-hardening/{purpose}".encode())
    return hkdf.derive(material)


def format_2(material: bytes, key_id: str, names: str, value: bytes) -> bytes:
    """0xB2 | n | key id | column tag | HMAC-SHA256 of the canonical value, as documented."""
    info = f"blind-index/v2/{names}"
    tag = derived(material, f"{info}/tag")[:4]
    mac = hmac.new(derived(material, info), value, hashlib.sha256).digest()
    return bytes((0xB2, len(key_id))) + key_id.encode() + tag + mac


def format_1(material: bytes, context: str, value: bytes) -> bytes:
    """The index written before format 2: the bare HMAC, keyed per ``table.column``."""
    return hmac.new(derived(material, f"blind-index/v1/{context}"), value, hashlib.sha256).digest()


def accounts(schema: str | None = None) -> Table:
    return Table(
        "accounts",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText()),
        blind_index_column("ssn", "ssn_bidx"),
        schema=schema,
    )


def stored(pg_database: PgDatabase, sql: str) -> list[bytes]:
    with psycopg.connect(pg_database.dsn) as conn:
        return [bytes(row[0]) for row in conn.execute(sql).fetchall()]


def filled(engine: Engine, rows: int = 40) -> Table:
    """``accounts`` with ``rows`` rows (ssn-1..) written under k1 alone."""
    keys.configure_keys(ONLY_K1)
    table = accounts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "ssn": f"ssn-{i}"} for i in range(1, rows + 1)])
    return table


def test_an_index_value_names_its_key_and_is_bound_to_schema_table_and_column(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """tenant_a.accounts.ssn and tenant_b.accounts.ssn hold the same value under the same key:
    their index values differ, and each is the documented format 2."""
    keys.configure_keys(ONLY_K1)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b")
    for schema in ("tenant_a", "tenant_b"):
        table = accounts(schema)
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(insert(table).values(id=1, ssn="123-45-6789"))
            found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("123-45-6789")))
            assert found.scalars().all() == [1]
    a, b = (stored(pg_database, f"SELECT ssn_bidx FROM tenant_{s}.accounts")[0] for s in "ab")
    assert a == format_2(K1, "k1", "8:tenant_a8:accounts3:ssn", b"123-45-6789")
    assert b == format_2(K1, "k1", "8:tenant_b8:accounts3:ssn", b"123-45-6789")
    assert a[:4] == b[:4] == b"\xb2\x02k1"
    assert a[4:] != b[4:]


@pytest.fixture
def cli_rotate(pg_database: PgDatabase) -> Callable[..., int]:
    url = pg_database.url.render_as_string(hide_password=False)

    def run(*args: str) -> int:
        return cli.main(["rotate", "--url", url, "--table", "accounts", "--column", "ssn", *args])

    return run


INDEX_ARGS = ("--blind-index", "ssn_bidx", "--type", "EncryptedText")


@pytest.mark.parametrize("index_format", [2, 1], ids=["format 2", "format 1 (written before)"])
def test_rotate_without_the_blind_index_is_refused_when_the_table_holds_it(
    engine: Engine,
    pg_database: PgDatabase,
    cli_rotate: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    index_format: int,
) -> None:
    filled(engine)
    if index_format == 1:
        with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
            for i in range(1, 41):
                old = format_1(K1, "accounts.ssn", f"ssn-{i}".encode())
                conn.execute("UPDATE accounts SET ssn_bidx = %s WHERE id = %s", (old, i))
    keys.configure_keys(BOTH)
    before = stored(pg_database, "SELECT ssn || ssn_bidx FROM accounts ORDER BY id")
    assert cli_rotate() == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "hardening rotate: accounts.ssn has a blind index in 'ssn_bidx' (its values are the "
        "blind index of ssn); rotating without it would leave it under the old key, and "
        "lookups would fail once that key is removed. Fix: run rotate again with "
        "--blind-index ssn_bidx --type <the type the model declares for ssn>"
    )
    assert stored(pg_database, "SELECT ssn || ssn_bidx FROM accounts ORDER BY id") == before
    assert cli_rotate(*INDEX_ARGS) == 0
    assert "40 values moved to key 'k2'" in capsys.readouterr().out


def test_a_key_whose_column_tag_ends_in_0xff_is_found_and_rotated(
    engine: Engine,
    pg_database: PgDatabase,
    cli_rotate: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One key in 256 gives a column a tag ending in 0xff: its index values are still found
    (the refusal) and rotated."""
    old = next(
        m
        for m in iter(lambda: os.urandom(32), b"")
        if derived(m, "blind-index/v2/0:8:accounts3:ssn/tag")[3] == 0xFF
    )
    keys.configure_keys(Keyring.from_pairs([("k1", old)]))
    table = accounts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "ssn": f"ssn-{i}"} for i in range(1, 11)])
    assert stored(pg_database, "SELECT ssn_bidx FROM accounts WHERE id = 1")[0][7] == 0xFF
    keys.configure_keys(Keyring.from_pairs([("k2", K2), ("k1", old)]))
    assert cli_rotate() == 2
    assert "has a blind index in 'ssn_bidx'" in capsys.readouterr().err
    assert prefix_end(b"\xb2\x02k1\x10\xff\xff") == b"\xb2\x02k1\x11"
    assert prefix_end(b"\xff") is None
    assert cli_rotate(*INDEX_ARGS) == 0
    assert "10 values moved to key 'k2'" in capsys.readouterr().out
    expected = [format_2(K2, "k2", "0:8:accounts3:ssn", f"ssn-{i}".encode()) for i in range(1, 11)]
    assert stored(pg_database, "SELECT ssn_bidx FROM accounts ORDER BY id") == expected


def test_rotating_an_aead_columns_blind_index_needs_its_type(
    engine: Engine, pg_database: PgDatabase, cli_rotate: Callable[..., int]
) -> None:
    filled(engine)
    keys.configure_keys(BOTH)
    with pytest.raises(RotationError) as caught:
        rotate(engine, "accounts", "ssn", blind_index_column="ssn_bidx")
    assert str(caught.value) == (
        "accounts.ssn: its blind index hashes the canonical form of its values, which only the "
        "column's type knows; give it: --blind-index ssn_bidx --type <the type the model "
        "declares for ssn>"
    )


@pytest.mark.parametrize("index_format", [2, 1], ids=["format 2", "format 1 (written before)"])
def test_indexes_left_under_an_old_key_are_found_by_their_key_id_and_rotated(
    engine: Engine, pg_database: PgDatabase, cli_rotate: Callable[..., int], index_format: int
) -> None:
    """The values were moved to k2 and their index was left under k1 (what a rotation
    without --blind-index did): rotate --blind-index moves every index, found by the key id
    it names (a format-1 value names none: it is never the active key's), and lookups find
    the rows once k1 is removed."""
    table = filled(engine)
    moved = EncryptedText(context="accounts.ssn", keys=ONLY_K2)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        for i in range(1, 41):
            value = f"ssn-{i}"
            conn.execute("UPDATE accounts SET ssn = %s WHERE id = %s", (moved.encrypt(value), i))
            if index_format == 1:
                old = format_1(K1, "accounts.ssn", value.encode())
                conn.execute("UPDATE accounts SET ssn_bidx = %s WHERE id = %s", (old, i))
    keys.configure_keys(BOTH)
    assert cli_rotate(*INDEX_ARGS, "--batch-size", "15") == 0
    expected = [format_2(K2, "k2", "0:8:accounts3:ssn", f"ssn-{i}".encode()) for i in range(1, 41)]
    assert stored(pg_database, "SELECT ssn_bidx FROM accounts ORDER BY id") == expected
    keys.configure_keys(ONLY_K2)
    with engine.connect() as conn:
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-17")))
        assert found.scalars().all() == [17]


def test_a_lookup_that_cannot_match_rows_indexed_under_a_removed_key_raises(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """Rows indexed under k1, k1 removed: the lookup names the key id and the fix instead of
    returning nothing, also as a new engine's first statement; with k1 back it finds them."""
    table = filled(engine)
    keys.configure_keys(ONLY_K2)
    fresh = create_engine(pg_database.url)
    try:
        assert not installed(fresh)
        with fresh.connect() as conn, pytest.raises(BlindIndexError) as caught:
            conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-7")))
    finally:
        fresh.dispose()
    assert str(caught.value) == (
        "a lookup of accounts.ssn through its blind index accounts.ssn_bidx cannot find every "
        "row: some index values were made by key 'k1', which the keyring no longer holds. "
        "Fix: add 'k1' back to HARDENING_KEYS after the active key, run hardening rotate "
        "--table accounts --column ssn --blind-index ssn_bidx --type <its type>, then remove it"
    )
    keys.configure_keys(BOTH)
    with engine.connect() as conn:
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-7")))
        assert found.scalars().all() == [7]
        nothing = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-99")))
        assert nothing.all() == []


def test_index_values_written_before_keep_matching_until_rotated(
    engine: Engine, pg_database: PgDatabase
) -> None:
    table = filled(engine, rows=3)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        old = format_1(K1, "accounts.ssn", b"ssn-2")
        conn.execute("UPDATE accounts SET ssn_bidx = %s WHERE id = 2", (old,))
    keys.configure_keys(BOTH)
    with engine.connect() as conn:
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-2")))
        assert found.scalars().all() == [2]
