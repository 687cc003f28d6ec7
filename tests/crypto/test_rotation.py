"""Key rotation: `hardening rotate` and rotate() move every value to the active key, losing none."""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, update
from sqlalchemy.engine import Engine

from hardening import cli, keys
from hardening.blind_index import blind_index_column
from hardening.errors import BlindIndexError, RotationError, RotationStopped
from hardening.keys import Keyring
from hardening.rotation import rotate
from hardening.testing.plugin import PgDatabase
from hardening.types import EncryptedText, PGPBytes, PGPText


def entry(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def env_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def use(spec: str) -> None:
        monkeypatch.setenv("HARDENING_KEYS", spec)
        keys.configure_keys(None)
        keys.reload()

    yield use
    monkeypatch.delenv("HARDENING_KEYS", raising=False)
    keys.configure_keys(None)


@pytest.fixture
def engine(pg_database: PgDatabase) -> Iterator[Engine]:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    eng = create_engine(pg_database.url)
    yield eng
    eng.dispose()


def accounts(ring: Keyring | None = None) -> Table:
    """The table as an application declares it; ``ring`` pins its keys (an app not yet
    restarted with the new key)."""
    return Table(
        "accounts",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedText(keys=ring)),
        blind_index_column("ssn", "ssn_bidx"),
        Column("note", PGPText(keys=ring)),
        Column("blob", PGPBytes(keys=ring)),
    )


SSN_INDEX = ["--blind-index", "ssn_bidx", "--type", "EncryptedText"]


def index_args(column: str) -> dict[str, Any]:
    """What rotating ``column`` of ``accounts`` names besides: ssn's blind index and type."""
    return (
        {"blind_index_column": "ssn_bidx", "column_type": EncryptedText} if column == "ssn" else {}
    )


def heads(pg_database: PgDatabase, column: str) -> set[bytes]:
    with psycopg.connect(pg_database.dsn) as conn:
        rows = conn.execute(
            f"SELECT DISTINCT substr({column}, 1, 2 + get_byte({column}, 1)) FROM accounts "
            f"WHERE {column} IS NOT NULL"
        ).fetchall()
    return {bytes(r[0]) for r in rows}


def test_hardening_rotate_moves_every_row_to_a_prepended_key(
    engine: Engine,
    pg_database: PgDatabase,
    env_keys: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use = env_keys
    old = entry("k1")
    use(old)
    table = accounts()
    table.create(engine)
    rows = [
        {"id": i, "ssn": f"ssn-{i}", "note": f"note-{i}", "blob": os.urandom(8) + b"\x00"}
        for i in range(1, 121)
    ]
    rows.append({"id": 999, "ssn": None, "note": None, "blob": None})
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    use(f"{entry('k2')},{old}")
    with engine.connect() as conn:  # old rows read while the new key is active
        assert conn.execute(select(table.c.note).where(table.c.id == 5)).scalar() == "note-5"
    for column, extra in (("ssn", SSN_INDEX), ("note", []), ("blob", [])):
        code = cli.main(
            [
                "rotate",
                "--url",
                pg_database.url.render_as_string(hide_password=False),
                "--table",
                "accounts",
                "--column",
                column,
                "--batch-size",
                "25",
                *extra,
            ]
        )
        assert code == 0
        assert heads(pg_database, column) == {bytes([3 if column == "ssn" else 5, 2]) + b"k2"}
    out = capsys.readouterr().out
    assert "120 values moved to key 'k2'" in out


def test_rotated_rows_read_with_the_new_key_alone_and_the_blind_index_follows(
    engine: Engine, env_keys: Callable[[str], None]
) -> None:
    use = env_keys
    old, new = entry("k1"), entry("k2")
    use(old)
    table = accounts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "ssn": f"s{i}", "note": f"n{i}"} for i in range(30)])
    use(f"{new},{old}")
    for column in ("ssn", "note"):
        report = rotate(engine, "accounts", column, batch_size=7, **index_args(column))
        assert (report.rotated, report.remaining, report.key_id) == (30, 0, "k2")
    use(new)  # the old key is gone: everything still reads, the index still finds
    with engine.connect() as conn:
        got = dict(conn.execute(select(table.c.ssn, table.c.note)).all())
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("s17"))).scalars()
        assert found.all() == [17]
    assert got == {f"s{i}": f"n{i}" for i in range(30)}


def test_rotation_resumes_after_an_interruption_and_is_idempotent(
    engine: Engine, pg_database: PgDatabase, env_keys: Callable[[str], None]
) -> None:
    use = env_keys
    old = entry("k1")
    use(old)
    table = accounts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "ssn": f"s{i}"} for i in range(100)])
    use(f"{entry('k2')},{old}")

    class Interrupted(Exception):
        pass

    def stop_after_two_batches(done: int, total: int) -> None:
        if done >= 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate(
            engine,
            "accounts",
            "ssn",
            batch_size=10,
            progress=stop_after_two_batches,
            **index_args("ssn"),
        )
    assert heads(pg_database, "ssn") == {b"\x03\x02k1", b"\x03\x02k2"}
    assert rotate(engine, "accounts", "ssn", batch_size=10, **index_args("ssn")).rotated == 80
    assert rotate(engine, "accounts", "ssn", batch_size=10, **index_args("ssn")).rotated == 0
    assert heads(pg_database, "ssn") == {b"\x03\x02k2"}


@pytest.mark.parametrize("column", ["ssn", "note"])
def test_rotation_while_another_connection_keeps_writing_loses_nothing(
    engine: Engine, env_keys: Callable[[str], None], column: str
) -> None:
    use = env_keys
    k1 = entry("k1")
    use(k1)
    table = accounts()
    table.create(engine)
    expected = {i: f"v{i}" for i in range(200)}
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, column: v} for i, v in expected.items()])
    # The writer is an application instance that has not picked up the new key yet.
    old_app = accounts(Keyring.parse(k1))
    use(f"{entry('k2')},{k1}")
    stop = threading.Event()
    written: dict[int, str] = {}
    reads: list[int] = []

    def writer() -> None:
        n = 0
        with engine.connect() as conn:
            while not stop.is_set() or n < 20:
                n += 1
                key = 1000 + n
                conn.execute(insert(old_app).values(id=key, **{column: f"new{n}"}))
                conn.execute(
                    update(old_app).where(old_app.c.id == n % 200).values(**{column: f"upd{n}"})
                )
                conn.commit()
                written[key] = f"new{n}"
                written[n % 200] = f"upd{n}"
                # a reader with the new keyring sees old and new rows all along
                values = conn.execute(select(table.c[column])).scalars().all()
                reads.append(len(values))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        first = rotate(engine, "accounts", column, batch_size=15, **index_args(column))
    finally:
        stop.set()
        thread.join()
    second = rotate(engine, "accounts", column, batch_size=15, **index_args(column))
    assert first.rotated > 0
    assert second.remaining == 0
    assert len(reads) >= 20
    assert reads == sorted(reads)  # no row ever went missing from a read
    expected.update(written)
    with engine.connect() as conn:
        got = dict(conn.execute(select(table.c.id, table.c[column])).all())
    assert got == expected


@pytest.mark.parametrize(
    ("ddl", "expected"),
    [
        ("ssn text, n int", r"plain\.ssn is of type TEXT, not bytea"),
        ("ssn int", r"plain\.ssn is of type INTEGER, not bytea"),
        ("ssn bytea", r"plain\.ssn does not hold the kit's envelopes.*op\.encrypt_column"),
    ],
)
def test_rotating_a_column_that_is_not_encrypted_is_a_clear_error(
    engine: Engine, pg_database: PgDatabase, ddl: str, expected: str
) -> None:
    secret = "Zebra-451"  # its first byte, 'Z', is 90
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE plain (id int PRIMARY KEY, {ddl})")
        value = f"convert_to('{secret}', 'UTF8')" if "bytea" in ddl else "'451'"
        conn.execute(f"INSERT INTO plain (id, ssn) VALUES (1, {value})")
    before = snapshot(pg_database, "plain")
    keys.configure_keys(Keyring.from_pairs([("k1", os.urandom(32))]))
    try:
        with pytest.raises(RotationError, match=expected) as caught:
            rotate(engine, "plain", "ssn")
    finally:
        keys.configure_keys(None)
    assert_no_data(str(caught.value), secret.encode(), b"451")
    assert snapshot(pg_database, "plain") == before


def assert_no_data(message: str, *values: bytes, first_byte: bool = True) -> None:
    """No stored value (plaintext or ciphertext) is in ``message``: not as text, not in hex,
    and (``first_byte``) not its first byte as a number."""
    for value in values:
        assert value.decode("latin-1") not in message
        assert value.hex() not in message
        if not first_byte:
            continue
        assert re.search(rf"\b({value[0]}|0x{value[0]:02x}|\\x{value[0]:02x})\b", message) is None


def cli_rotate(pg_database: PgDatabase, table: str, column: str, *extra: str) -> int:
    """``hardening rotate``; ``accounts.ssn`` names its blind index and type unless ``extra``
    names a blind index."""
    url = pg_database.url.render_as_string(hide_password=False)
    if (table, column) == ("accounts", "ssn") and "--blind-index" not in extra:
        extra = (*extra, *SSN_INDEX)
    return cli.main(["rotate", "--url", url, "--table", table, "--column", column, *extra])


def refused(pg_database: PgDatabase, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``hardening rotate --table args[0] --column args[1] args[2:]``, which must refuse
    before the progress bar and before any row changes: exit 2, one line on stderr (returned),
    without the test's plaintext."""
    before = snapshot(pg_database)
    code = cli_rotate(pg_database, *args)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("hardening rotate: ")
    assert_no_data(err, b"Zebra-451")
    assert snapshot(pg_database) == before
    return err


def filled_accounts(engine: Engine, env_keys: Callable[[str], None], n: int = 50) -> Table:
    """``accounts`` with ``n`` rows (ids 1..n) under key k1; the keyring is then k2, k1."""
    old = entry("k1")
    env_keys(old)
    table = accounts()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [{"id": i, "ssn": f"ssn-{i}", "note": f"note-{i}"} for i in range(1, n + 1)],
        )
    env_keys(f"{entry('k2')},{old}")
    return table


def tamper(pg_database: PgDatabase, column: str, row: int) -> None:
    """Flip one byte of the ciphertext of ``row`` (past the header)."""
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            f"UPDATE accounts SET {column} = overlay({column} PLACING "
            f"decode(lpad(to_hex(get_byte({column}, 25) # 1), 2, '0'), 'hex') FROM 26 FOR 1) "
            "WHERE id = %s",
            (row,),
        )


def snapshot(pg_database: PgDatabase, table: str = "accounts") -> list[tuple[object, ...]]:
    """Every row of ``table`` as stored (bytes, not decrypted), in primary-key order."""
    with psycopg.connect(pg_database.dsn) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def keep_row_under_old_key(pg_database: PgDatabase, row: int) -> None:
    """Stands for a writer that keeps writing ``row`` under the old key: every UPDATE of it is
    dropped (a BEFORE trigger returning NULL), so no pass moves it."""
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF OLD.id = {row} THEN RETURN NULL; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER keep BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION keep_row()"
        )


def test_hardening_rotate_exit_codes_tell_an_error_from_rows_left(
    engine: Engine,
    pg_database: PgDatabase,
    env_keys: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    filled_accounts(engine, env_keys)
    keep_row_under_old_key(pg_database, 7)
    assert cli_rotate(pg_database, "accounts", "no_such") == 2
    out, err = capsys.readouterr()
    assert (out, len(err.splitlines())) == ("", 1)
    assert heads(pg_database, "ssn") == {b"\x03\x02k1"}

    assert cli_rotate(pg_database, "accounts", "ssn", "--batch-size", "10") == 1
    out, err = capsys.readouterr()
    assert "49 values moved to key 'k2'" in out
    assert out.rstrip().endswith("1 left")
    assert err == ""
    assert heads(pg_database, "ssn") == {b"\x03\x02k1", b"\x03\x02k2"}

    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("DROP TRIGGER keep ON accounts")
    assert cli_rotate(pg_database, "accounts", "ssn") == 0
    assert (
        capsys.readouterr()
        .out.rstrip()
        .endswith("1 values moved to key 'k2' in 1 pass(es); 0 left")
    )
    assert heads(pg_database, "ssn") == {b"\x03\x02k2"}


# The shared wording of a row that stops a column rewrite (hardening.crypto.rewriter).
UNDER_K1 = "holds an envelope under key id 'k1'"
NOT_K1 = "holds an envelope under key id 'k1' that the keyring's key 'k1' does not decrypt"
OTHER_HOLDS = "the column 'other' named as its blind index holds a value that is not"
ANOTHER_ROWS = "its blind index in 'other' is an index of ssn but not of this row's value"


@pytest.mark.parametrize(
    ("table", "column", "case", "expected"),
    [
        ("no_such_table", "ssn", "", "table no_such_table does not exist"),
        (
            "accounts",
            "no_such_column",
            "",
            "table accounts has no column 'no_such_column' (it has blob, id, note, ssn, ssn_bidx)",
        ),
        ("accounts", "id", "", "accounts.id is of type INTEGER, not bytea"),
        ("accounts", "ssn", "old key missing", f"row id 1: {UNDER_K1}; the keyring holds 'k2'"),
        ("accounts", "note", "old key missing", f"row id 1: {UNDER_K1}; the keyring holds 'k2'"),
        ("accounts", "ssn", "wrong context", f"row id 1: {NOT_K1} as users.ssn (another key"),
        ("accounts", "ssn", "tampered row", f"row id 30: {NOT_K1} (another key"),
        ("accounts", "note", "tampered row", f"row id 30: {NOT_K1} (another key"),
        ("accounts", "ssn", "plaintext row", "row id 30: does not hold an AEAD envelope"),
        ("accounts", "note", "plaintext row", "row id 30: does not hold a pgcrypto envelope"),
    ],
)
def test_hardening_rotate_exits_2_when_it_cannot_run_or_a_row_stops_it(
    engine: Engine,
    pg_database: PgDatabase,
    env_keys: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
    table: str,
    column: str,
    case: str,
    expected: str,
) -> None:
    filled_accounts(engine, env_keys)
    extra = ["--context", "users.ssn"] if case == "wrong context" else []
    if case == "old key missing":
        env_keys(entry("k2"))
    elif case == "tampered row":
        tamper(pg_database, column, 30)
    elif case == "plaintext row":
        with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
            conn.execute(f"UPDATE accounts SET {column} = 'Zebra-451'::bytea WHERE id = 30")
    err = refused(pg_database, capsys, table, column, "--batch-size", "10", *extra)
    assert expected in err
    if case:
        assert err.rstrip().endswith(
            ", then run rotate again. So far nothing was written (the run stopped before its "
            "first batch). The value is not shown."
        )


@pytest.mark.parametrize("column", ["ssn", "note"])
def test_a_row_that_does_not_decrypt_stops_the_run_naming_its_key_and_what_was_committed(
    engine: Engine, pg_database: PgDatabase, env_keys: Callable[[str], None], column: str
) -> None:
    filled_accounts(engine, env_keys, 150)
    tamper(pg_database, column, 140)
    before = snapshot(pg_database)
    with pytest.raises(RotationStopped) as caught:
        rotate(engine, "accounts", column, batch_size=25, **index_args(column))
    message = str(caught.value)
    assert message.startswith(f"accounts.{column}, row id 140: {NOT_K1} (another key")
    assert message.endswith(
        "then run rotate again. So far nothing of this batch (id > 125) was written; this "
        "run's earlier batches moved 125 values to key 'k2' and committed them (a new run "
        "resumes after them). The value is not shown."
    )
    tampered = before[139][list(accounts().c.keys()).index(column)]
    assert isinstance(tampered, bytes)
    assert_no_data(message, f"{column}-140".encode())
    assert_no_data(message, tampered[4:], first_byte=False)
    report = caught.value.report
    assert report is not None
    assert (report.rotated, report.key_id) == (125, "k2")
    after = snapshot(pg_database)
    assert after[125:] == before[125:]  # the batch of the row (126..150) was not written
    version = b"\x03\x02" if column == "ssn" else b"\x05\x02"
    assert heads(pg_database, column) == {version + b"k2", version + b"k1"}

    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM accounts WHERE id = 140")  # the fix: restore or remove it
    resumed = rotate(engine, "accounts", column, batch_size=25, **index_args(column))
    assert (resumed.rotated, resumed.remaining) == (24, 0)


@pytest.mark.parametrize(
    ("argument", "value"), [("batch_size", 0), ("batch_size", -5), ("max_passes", 0)]
)
def test_rotate_refuses_a_batch_size_or_pass_count_below_1(
    engine: Engine,
    pg_database: PgDatabase,
    env_keys: Callable[[str], None],
    argument: str,
    value: int,
) -> None:
    filled_accounts(engine, env_keys)
    before = snapshot(pg_database)
    sizes = {"batch_size": 500, "max_passes": 5, argument: value}
    with pytest.raises(ValueError, match=rf"^{argument} must be a whole number of at least 1"):
        rotate(
            engine,
            "accounts",
            "ssn",
            batch_size=sizes["batch_size"],
            max_passes=sizes["max_passes"],
        )
    assert snapshot(pg_database) == before


@pytest.mark.parametrize(
    ("index", "fill", "expected"),
    [
        ("no_such", "", "accounts.no_such: table accounts has no column 'no_such' to hold the"),
        ("label", "'p'", "accounts.label is of type TEXT, not bytea: it is not a blind index"),
        ("ssn", "", "accounts.ssn cannot be the blind index of ssn"),
        ("id", "", "accounts.id cannot be the blind index of ssn"),
        ("other", "'Zebra-451'::bytea", f"accounts.ssn, row id 1: {OTHER_HOLDS}"),
        # NULL past the first SAMPLE_ROWS rows to move: the batches would fill them before
        # the first value is met
        (
            "other",
            "CASE WHEN id > 110 THEN 'Zebra-451'::bytea END",
            f"accounts.ssn, row id 111: {OTHER_HOLDS}",
        ),
        # another row's index (shifted by one row)
        (
            "other",
            "(SELECT ssn_bidx FROM accounts a WHERE a.id = accounts.id % 130 + 1)",
            f"accounts.ssn, row id 1: {ANOTHER_ROWS}",
        ),
    ],
)
def test_a_blind_index_column_that_does_not_hold_the_index_is_refused_before_any_row_changes(
    engine: Engine,
    pg_database: PgDatabase,
    env_keys: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
    index: str,
    fill: str,
    expected: str,
) -> None:
    filled_accounts(engine, env_keys, 130)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE accounts ADD COLUMN label text, ADD COLUMN other bytea")
        if fill:
            conn.execute(f"UPDATE accounts SET {index} = {fill}")
    args = ["--blind-index", index, "--type", "EncryptedText", "--batch-size", "10"]
    err = refused(pg_database, capsys, "accounts", "ssn", *args)
    assert err.startswith(f"hardening rotate: {expected}")
    if expected.endswith(OTHER_HOLDS):
        assert "mapped_blind_index('ssn')" in err  # the fix
    elif expected.endswith(ANOTHER_ROWS):
        assert "set that index to NULL (rotate --blind-index other computes it)" in err


def test_a_wrong_blind_index_past_the_sample_stops_its_batch_before_it_is_written(
    engine: Engine, pg_database: PgDatabase, env_keys: Callable[[str], None]
) -> None:
    table = filled_accounts(engine, env_keys, 150)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(  # row 140 holds row 139's index
            "UPDATE accounts SET ssn_bidx = (SELECT ssn_bidx FROM accounts WHERE id = 139) "
            "WHERE id = 140"
        )
    before = snapshot(pg_database)
    with pytest.raises(RotationStopped) as caught:
        rotate(engine, "accounts", "ssn", batch_size=25, **index_args("ssn"))
    message = str(caught.value)
    assert message.startswith(
        "accounts.ssn, row id 140: its blind index in 'ssn_bidx' is an index of ssn but not of "
        "this row's value"
    )
    assert "this run's earlier batches moved 125 values to key 'k2' and committed them" in message
    assert_no_data(message, b"ssn-140", b"ssn-139")
    after = snapshot(pg_database)
    assert after[125:] == before[125:]  # the batch of the row (126..150) was not written
    with engine.connect() as conn:
        found = conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-125"))).all()
        assert found == [(125,)]
    env_keys(os.environ["HARDENING_KEYS"].split(",")[0])  # k2 alone: rows 1..125 are done
    with engine.connect() as conn:
        assert conn.execute(select(table.c.ssn).where(table.c.id == 1)).scalar() == "ssn-1"
        with pytest.raises(BlindIndexError, match="made by key 'k1'"):  # rows 126..150 are not
            conn.execute(select(table.c.id).where(table.c.ssn.blind_eq("ssn-125")))
