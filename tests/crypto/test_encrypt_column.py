"""op.encrypt_column: an existing plaintext column becomes encrypted in place, and back."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

import hardening.encrypt_column  # noqa: F401  (registers the operations)
from hardening import keys
from hardening.blind_index import blind_index_column
from hardening.encrypt_column import EncryptColumnError
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from hardening.types import (
    DecryptionError,
    EncryptedBytes,
    EncryptedDateTime,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedText,
    KeyNotFoundError,
)


@pytest.fixture
def engine(pg_database: PgDatabase) -> Iterator[Engine]:
    keys.configure_keys(Keyring.from_pairs([("k1", os.urandom(32))]))
    eng = create_engine(pg_database.url)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY, ssn text, age int)")
        conn.execute(
            "INSERT INTO users (ssn, age) SELECT 'ssn-' || i, i FROM generate_series(1, 250) i"
        )
        conn.execute("INSERT INTO users (ssn, age) VALUES (NULL, NULL), ('', 0), ('ünï', -5)")
    yield eng
    eng.dispose()
    keys.configure_keys(None)


def migrate(engine: Engine, step: str) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        op = Operations(ctx)
        with ctx.begin_transaction():
            run(op, conn, step)


def run(op: Operations, conn: Connection, step: str) -> None:
    if step == "up":
        op.encrypt_column(  # type: ignore[attr-defined]
            "users", "ssn", EncryptedText, batch_size=40, blind_index="ssn_bidx"
        )
        op.encrypt_column("users", "age", EncryptedInteger, batch_size=100)  # type: ignore[attr-defined]
    else:
        op.decrypt_column(  # type: ignore[attr-defined]
            "users", "ssn", EncryptedText, plaintext_type="text", blind_index="ssn_bidx"
        )
        op.decrypt_column("users", "age", EncryptedInteger, plaintext_type="integer")  # type: ignore[attr-defined]


def model(legacy: bool = False) -> Table:
    return Table(
        "users",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText(legacy_plaintext=legacy)),
        blind_index_column("ssn", "ssn_bidx"),
        Column("age", EncryptedInteger()),
    )


def raw(pg_database: PgDatabase, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_database.dsn) as conn:
        return conn.execute(sql).fetchall()


def test_encrypt_column_converts_in_place_and_the_downgrade_restores_it(
    engine: Engine, pg_database: PgDatabase
) -> None:
    before = raw(pg_database, "SELECT id, ssn, age FROM users ORDER BY id")
    migrate(engine, "up")
    stored = raw(pg_database, "SELECT ssn, age FROM users WHERE ssn IS NOT NULL")
    assert all(bytes(s)[:1] == b"\x01" and bytes(a)[:1] == b"\x01" for s, a in stored)
    assert not any(b"ssn-" in bytes(s) for s, _ in stored)
    users = model()
    with engine.connect() as conn:
        after = conn.execute(select(users.c.id, users.c.ssn, users.c.age).order_by(users.c.id))
        assert [tuple(r) for r in after] == before
        hit = conn.execute(select(users.c.age).where(users.c.ssn.blind_eq("ssn-77"))).scalar()
        assert hit == 77
    migrate(engine, "up")  # idempotent: nothing is encrypted twice
    with engine.connect() as conn:
        assert conn.execute(select(users.c.ssn).where(users.c.id == 3)).scalar() == "ssn-3"
    migrate(engine, "down")
    assert raw(pg_database, "SELECT id, ssn, age FROM users ORDER BY id") == before
    types = raw(
        pg_database,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'users' ORDER BY column_name",
    )
    assert types == [("age", "integer"), ("id", "integer"), ("ssn", "text")]


def test_reads_during_the_transition_follow_legacy_plaintext(
    engine: Engine, pg_database: PgDatabase
) -> None:
    migrate(engine, "up")
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:  # a row not yet converted
        conn.execute("UPDATE users SET ssn = convert_to('still-plain', 'UTF8') WHERE id = 5")
    with engine.connect() as conn:
        lenient = model(legacy=True)
        got = conn.execute(select(lenient.c.ssn).where(lenient.c.id.in_([4, 5]))).scalars()
        assert sorted(got) == ["ssn-4", "still-plain"]
        strict = model()
        with pytest.raises(DecryptionError, match=r"users\.ssn"):
            conn.execute(select(strict.c.ssn).where(strict.c.id == 5)).all()
        # tampering is still an error with the lenient flag
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("UPDATE users SET ssn = set_byte(ssn, 20, get_byte(ssn, 20) # 1) WHERE id = 4")
    with engine.connect() as conn, pytest.raises(DecryptionError, match=r"users\.ssn.*'k1'"):
        conn.execute(select(lenient.c.ssn).where(lenient.c.id == 4)).all()


def test_the_operations_reverse_into_each_other() -> None:
    from hardening.encrypt_column import DecryptColumnOp, EncryptColumnOp

    up = EncryptColumnOp("users", "ssn", EncryptedText, blind_index="ssn_bidx", batch_size=7)
    down = up.reverse()
    assert isinstance(down, DecryptColumnOp)
    assert (down.table_name, down.blind_index, down.batch_size) == ("users", "ssn_bidx", 7)
    assert type(down.reverse()) is EncryptColumnOp


@pytest.mark.parametrize(("table", "column"), [("users", "nope"), ("nobody", "ssn")])
def test_a_missing_table_or_column_is_a_clear_error_before_anything_changes(
    engine: Engine, pg_database: PgDatabase, table: str, column: str
) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        op = Operations(ctx)
        with pytest.raises(EncryptColumnError, match=rf"{table}\.{column}"):
            op.encrypt_column(table, column, EncryptedText)  # type: ignore[attr-defined]
    assert raw(
        pg_database,
        "SELECT data_type FROM information_schema.columns WHERE "
        "table_name = 'users' AND column_name = 'ssn'",
    ) == [("text",)]


def test_a_failed_batch_does_not_print_the_plaintexts(
    engine: Engine, pg_database: PgDatabase
) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'updates are refused'; END$$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        op = Operations(ctx)
        with ctx.begin_transaction(), pytest.raises(DBAPIError, match="refused") as caught:
            op.encrypt_column("users", "ssn", EncryptedText)  # type: ignore[attr-defined]
    assert "ssn-1" not in str(caught.value)
    assert "[REDACTED]" in str(caught.value)


def upgrade_one(engine: Engine, *args: Any, **kw: Any) -> None:
    step_one(engine, "encrypt_column", *args, **kw)


def downgrade_one(engine: Engine, *args: Any, **kw: Any) -> None:
    step_one(engine, "decrypt_column", *args, **kw)


def step_one(engine: Engine, operation: str, *args: Any, **kw: Any) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        with ctx.begin_transaction():
            getattr(Operations(ctx), operation)(*args, **kw)


def test_values_are_stored_and_indexed_as_the_type_writes_them(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """jsonb and timestamptz print differently from the types' own form: the blind index of a
    converted row must match ``blind_eq`` of the value, like a row the application wrote."""
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE docs (id int PRIMARY KEY, doc jsonb, at timestamptz)")
        conn.execute(
            'INSERT INTO docs VALUES (1, \'{"b": [1, 2], "a": "x"}\', \'2024-05-06 07:08:09+00\')'
        )
    upgrade_one(engine, "docs", "doc", EncryptedJSON, blind_index="doc_bidx")
    upgrade_one(engine, "docs", "at", EncryptedDateTime, blind_index="at_bidx")
    docs = Table(
        "docs",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("doc", EncryptedJSON()),
        blind_index_column("doc", "doc_bidx"),
        Column("at", EncryptedDateTime()),
        blind_index_column("at", "at_bidx"),
    )
    at = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    with engine.connect() as conn:
        assert conn.execute(select(docs.c.doc, docs.c.at)).one() == ({"a": "x", "b": [1, 2]}, at)
        found = conn.execute(select(docs.c.id).where(docs.c.doc.blind_eq({"a": "x", "b": [1, 2]})))
        assert found.scalars().all() == [1]
        assert conn.execute(select(docs.c.id).where(docs.c.at.blind_eq(at))).scalars().all() == [1]


def test_a_value_the_type_cannot_read_stops_the_conversion_without_printing_it(
    engine: Engine, pg_database: PgDatabase
) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("UPDATE users SET ssn = id::text WHERE ssn IS NOT NULL")
        conn.execute("UPDATE users SET ssn = 'NOT-A-NUMBER-PLAINTEXT' WHERE id = 7")
    with pytest.raises(EncryptColumnError, match=r"users\.ssn.*id 7") as caught:
        upgrade_one(engine, "users", "ssn", EncryptedInteger)
    assert "NOT-A-NUMBER" not in str(caught.value)


def test_an_envelope_under_a_key_the_keyring_lacks_is_not_encrypted_twice(
    engine: Engine, pg_database: PgDatabase
) -> None:
    keys.configure_keys(Keyring.from_pairs([("old", os.urandom(32))]))
    upgrade_one(engine, "users", "ssn", EncryptedText, batch_size=1000)
    keys.configure_keys(Keyring.from_pairs([("new", os.urandom(32))]))  # 'old' forgotten
    # the id is not quoted (in a plaintext that only looks like an envelope it would be the
    # plaintext's bytes); the message names the keyring's ids and where the value's id is
    with pytest.raises(EncryptColumnError, match="a key id the keyring lacks") as caught:
        upgrade_one(engine, "users", "ssn", EncryptedText, batch_size=1000)
    assert "the keyring holds 'new'" in str(caught.value)
    assert "'old'" not in str(caught.value)
    heads = raw(pg_database, "SELECT DISTINCT substr(ssn, 1, 5) FROM users WHERE ssn <> ''")
    assert heads == [(b"\x01\x03old",)]


def test_legacy_plaintext_does_not_read_an_envelope_whose_key_was_removed_as_plaintext(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """The flag reads what is no envelope; a complete envelope under a key id the keyring
    lacks is the error naming that id, not its ciphertext returned as the value."""
    old_key = os.urandom(32)
    keys.configure_keys(Keyring.from_pairs([("old", old_key)]))
    upgrade_one(engine, "users", "ssn", EncryptedText, batch_size=1000)
    keys.configure_keys(Keyring.from_pairs([("new", os.urandom(32))]))  # 'old' removed too soon
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("UPDATE users SET ssn = convert_to('still-plain', 'UTF8') WHERE id = 5")
        # plaintext that starts like a header under 'old' but cannot hold nonce and tag
        conn.execute("UPDATE users SET ssn = '\\x01036f6c64'::bytea || 'short'::bytea WHERE id = 6")
    lenient = model(legacy=True)
    with engine.connect() as conn:
        got = conn.execute(select(lenient.c.ssn).where(lenient.c.id.in_([5, 6])).order_by("id"))
        assert got.scalars().all() == ["still-plain", "\x01\x03oldshort"]
        with pytest.raises(KeyNotFoundError, match=r"'old'.*users\.ssn.*'new'") as caught:
            conn.execute(select(lenient.c.ssn).where(lenient.c.id == 4)).all()
    text = str(caught.value) + repr(caught.value.args)
    assert "ssn-4" not in text
    assert base64.b64encode(old_key).decode() not in text
    assert repr(old_key)[2:-1] not in text


# -- values that have an envelope's header but do not decrypt ---------------------------------
# Re-running the upgrade (as after an interruption) or running the downgrade must never take
# such a value for plaintext: encrypting it again stores ciphertext as the value, and leaving
# it to the downgrade's ALTER turns ciphertext into the column's data.


def make_blobs(pg_database: PgDatabase, values: list[bytes | None]) -> None:
    """Table ``blobs (id int PRIMARY KEY, data bytea)`` holding ``values`` as ids 1, 2, ..."""
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE blobs (id int PRIMARY KEY, data bytea)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO blobs VALUES (%s, %s)", list(enumerate(values, start=1)))


def stored(pg_database: PgDatabase, table: str = "blobs", column: str = "data") -> dict[int, Any]:
    """Each row's stored value, as the database holds it (bytes for bytea)."""
    rows = raw(pg_database, f"SELECT id, {column} FROM {table} ORDER BY id")
    return {k: bytes(v) if isinstance(v, memoryview) else v for k, v in rows}


def blobs_model() -> Table:
    return Table(
        "blobs",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("data", EncryptedBytes()),
    )


def read_blobs(engine: Engine) -> dict[int, bytes | None]:
    t = blobs_model()
    with engine.connect() as conn:
        return {k: v for k, v in conn.execute(select(t.c.id, t.c.data).order_by(t.c.id))}


def chain(exc: BaseException) -> str:
    """The text of an error and of every error it chains, as a traceback would show them."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def assert_not_shown(text: str, *secrets: bytes) -> None:
    """No run of 5 bytes of any secret (a stored value's body, a plaintext, a key) appears in
    ``text`` as characters, as a bytes repr, as hex, nor the whole secret as base64."""
    for secret in secrets:
        assert base64.b64encode(secret).decode() not in text
        for i in range(max(1, len(secret) - 4)):
            run = secret[i : i + 5]
            for form in (run.decode("latin-1"), repr(run)[2:-1], run.hex()):
                assert form not in text, f"{form!r} of a secret is in the error"


def body(value: bytes) -> bytes:
    """An envelope without its header (version, key-id length, key id)."""
    return value[2 + value[1] :]


def test_a_rerun_stops_at_a_tampered_row_instead_of_encrypting_it_again(
    engine: Engine, pg_database: PgDatabase
) -> None:
    make_blobs(pg_database, [b"PLAIN-%d" % i for i in range(1, 6)])
    upgrade_one(engine, "blobs", "data", EncryptedBytes)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE blobs SET data = set_byte(data, 20, get_byte(data, 20) # 1) WHERE id = 3"
        )
    before = stored(pg_database)
    with pytest.raises(EncryptColumnError) as caught:
        upgrade_one(engine, "blobs", "data", EncryptedBytes)
    assert stored(pg_database) == before  # 39 bytes each: nothing encrypted a second time
    message = str(caught.value)
    assert message.startswith(
        "blobs.data, row id 3: holds an envelope under key id 'k1' that the keyring's key 'k1' "
        "does not decrypt (another key under that id, or the row was altered, truncated or "
        "copied from another column); it is not encrypted a second time. Fix: use the keyring "
        "that encrypted the column, or repair or clear that row"
    )
    assert "So far nothing was written (the run stopped in its first batch)." in message
    assert isinstance(caught.value.__cause__, DecryptionError)
    assert caught.value.__cause__.key_id == "k1"
    assert_not_shown(chain(caught.value), *map(body, before.values()), b"PLAIN-3")


def test_other_key_material_under_the_same_id_changes_no_row_in_either_direction(
    engine: Engine, pg_database: PgDatabase
) -> None:
    right, wrong = os.urandom(32), os.urandom(32)
    keys.configure_keys(Keyring.from_pairs([("k1", right)]))
    plaintexts = [b"PLAIN-%d" % i for i in range(1, 6)]
    make_blobs(pg_database, [*plaintexts])
    upgrade_one(engine, "blobs", "data", EncryptedBytes)
    before = stored(pg_database)
    keys.configure_keys(Keyring.from_pairs([("k1", wrong)]))
    with pytest.raises(
        EncryptColumnError, match=r"^blobs\.data, row id 1: .* key id 'k1' .*does not decrypt"
    ) as up:
        upgrade_one(engine, "blobs", "data", EncryptedBytes)
    with pytest.raises(
        EncryptColumnError, match=r"^blobs\.data, row id 1: .* key id 'k1' .*it stays as it is"
    ) as down:
        downgrade_one(engine, "blobs", "data", EncryptedBytes, plaintext_type="bytea")
    assert stored(pg_database) == before
    assert raw(pg_database, "SELECT pg_typeof(data)::text FROM blobs LIMIT 1") == [("bytea",)]
    keys.configure_keys(Keyring.from_pairs([("k1", right)]))
    assert list(read_blobs(engine).values()) == plaintexts  # the right key still reads them all
    for caught in (up, down):
        assert_not_shown(
            chain(caught.value), *map(body, before.values()), *plaintexts, right, wrong
        )


def test_a_stopped_batch_writes_nothing_and_the_error_says_what_earlier_batches_did(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """A first run over plaintext meets, in its second batch, an envelope copied from another
    column: the first batch stays encrypted, nothing of the second is written."""
    plaintexts: list[bytes | None] = [b"PLAIN-%d" % i for i in range(1, 101)]
    foreign = EncryptedBytes(context="other.data").encrypt(b"PLAIN-50")
    make_blobs(pg_database, [*plaintexts[:49], foreign, *plaintexts[50:]])
    with pytest.raises(EncryptColumnError) as caught:
        upgrade_one(engine, "blobs", "data", EncryptedBytes, batch_size=40)
    assert str(caught.value).startswith("blobs.data, row id 50: holds an envelope under key id")
    assert str(caught.value).endswith(
        "So far nothing of this batch (id > 40) was written; this run's earlier batches "
        "encrypted 40 rows and committed them (a new run skips them). The value is not shown."
    )
    after = stored(pg_database)
    assert after[50] == foreign
    assert [after[i] for i in range(41, 101) if i != 50] == plaintexts[40:49] + plaintexts[50:]
    t = EncryptedBytes(context="blobs.data")
    assert [t.decrypt(after[i]) for i in range(1, 41)] == plaintexts[:40]
    assert_not_shown(chain(caught.value), body(foreign), b"PLAIN-50")

    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:  # the row is cleared
        conn.execute("UPDATE blobs SET data = NULL WHERE id = 50")
    upgrade_one(engine, "blobs", "data", EncryptedBytes, batch_size=40)
    done = stored(pg_database)
    assert [done[i] for i in range(1, 41)] == [after[i] for i in range(1, 41)]  # skipped
    assert read_blobs(engine) == {i: None if i == 50 else v for i, v in enumerate(plaintexts, 1)}


LOOKALIKES = {
    "aead header, the keyring's key id": (
        b"\x01\x02k1SECRET-BODY-SECRET-BODY-SECRET-BODY",
        "holds an envelope under key id 'k1' that the keyring's key 'k1' does not decrypt",
    ),
    "aead header, too short for nonce and tag": (
        b"\x01\x02k1SECRET",
        "holds an envelope under key id 'k1' that the keyring's key 'k1' does not decrypt",
    ),
    "aead header, a key id the keyring lacks": (
        b"\x01\x03zz9SECRET-BODY-SECRET-BODY-SECRET-BODY",
        "holds an envelope under a key id the keyring lacks (not shown); the keyring holds 'k1'",
    ),
    "pgcrypto header": (
        b"\x02\x02k1SECRET-BODY",
        "holds a pgcrypto envelope (key id 'k1'), which the AEAD types do not read",
    ),
}


@pytest.mark.parametrize("case", LOOKALIKES)
def test_plaintext_with_an_envelope_header_stops_the_step_and_the_documented_fix_converts_it(
    engine: Engine, pg_database: PgDatabase, case: str
) -> None:
    """A value is plaintext when it does not begin with a whole envelope header; one that does
    but does not decrypt is never encrypted as plaintext, even if it really is plaintext. The
    error's fix (store the type's envelope of the value yourself) lets the step finish."""
    lookalike, problem = LOOKALIKES[case]
    values: list[bytes | None] = [
        b"\x01\xffstarts with the version byte",  # key-id length 255: no header
        b"\x01\x02k!not a key id",  # '!' cannot be in a key id: no header
        lookalike,
        b"PLAIN-4",
    ]
    make_blobs(pg_database, values)
    with pytest.raises(EncryptColumnError) as caught:
        upgrade_one(engine, "blobs", "data", EncryptedBytes)
    assert str(caught.value).startswith(f"blobs.data, row id 3: {problem}")
    assert "; it is not encrypted a second time. Fix: " in str(caught.value)
    assert (
        "(if it is plaintext that only begins like an envelope, set it yourself to the bytes "
        "EncryptedBytes(context='blobs.data').encrypt(value))"
    ) in str(caught.value)
    assert stored(pg_database) == dict(enumerate(values, 1))
    assert "SECRET" not in chain(caught.value)
    assert "zz9" not in chain(caught.value)  # an unknown "key id" may be the plaintext's bytes

    envelope = EncryptedBytes(context="blobs.data").encrypt(lookalike)  # the error's fix
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("UPDATE blobs SET data = %s WHERE id = 3", (envelope,))
    upgrade_one(engine, "blobs", "data", EncryptedBytes)
    assert read_blobs(engine) == dict(enumerate(values, 1))
    # each is one envelope: header (4 bytes), nonce (12), ciphertext, tag (16)
    lengths = {i: (bytes(v[:4]), len(v)) for i, v in stored(pg_database).items()}
    assert lengths == {i: (b"\x01\x02k1", len(v) + 32) for i, v in enumerate(values, 1) if v}


def test_a_downgrade_stops_at_an_envelope_that_does_not_decrypt_and_keeps_the_column_bytea(
    engine: Engine, pg_database: PgDatabase
) -> None:
    """The mirror: a value that does not decrypt is neither left for the ALTER to turn into
    text nor written back; rows of earlier batches stay decrypted, and a run after the repair
    finishes the downgrade."""
    before = raw(pg_database, "SELECT id, ssn FROM users ORDER BY id")
    upgrade_one(engine, "users", "ssn", EncryptedText, blind_index="ssn_bidx")
    good = stored(pg_database, "users", "ssn")
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET ssn = set_byte(ssn, 20, get_byte(ssn, 20) # 1) WHERE id = 100"
        )
    tampered = stored(pg_database, "users", "ssn")
    args = ("users", "ssn", EncryptedText)
    kw: dict[str, Any] = {"plaintext_type": "text", "blind_index": "ssn_bidx", "batch_size": 40}
    with pytest.raises(EncryptColumnError) as caught:
        downgrade_one(engine, *args, **kw)
    message = str(caught.value)
    assert message.startswith(
        "users.ssn, row id 100: holds an envelope under key id 'k1' that the keyring's key "
        "'k1' does not decrypt"
    )
    assert "; it stays as it is. Fix: use the keyring that encrypted the column" in message
    assert message.endswith(
        "So far nothing of this batch (id > 80) was written; this run's earlier batches "
        "decrypted 80 rows and committed them (the column stays bytea until every row "
        "decrypts). The value is not shown."
    )
    half = stored(pg_database, "users", "ssn")
    assert [half[i] for i in range(1, 81)] == [b"ssn-%d" % i for i in range(1, 81)]
    assert {i: half[i] for i in half if i > 80} == {i: tampered[i] for i in tampered if i > 80}
    columns = raw(
        pg_database,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'users' ORDER BY column_name",
    )
    assert columns == [
        ("age", "integer"),
        ("id", "integer"),
        ("ssn", "bytea"),
        ("ssn_bidx", "bytea"),
    ]
    assert_not_shown(chain(caught.value), body(tampered[100]), b"ssn-100")

    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:  # the row repaired
        conn.execute("UPDATE users SET ssn = %s WHERE id = 100", (good[100],))
    downgrade_one(engine, *args, **kw)
    assert raw(pg_database, "SELECT id, ssn FROM users ORDER BY id") == before


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_a_batch_size_below_one_is_refused_before_anything_changes(size: object) -> None:
    from hardening.encrypt_column import EncryptColumnOp

    with pytest.raises(EncryptColumnError, match=r"users.ssn: batch_size must be a whole number"):
        EncryptColumnOp("users", "ssn", EncryptedText, batch_size=size)  # type: ignore[arg-type]
