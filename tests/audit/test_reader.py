"""Reading pgaudit records out of logs real servers wrote, in each form: statements over
several lines, quoted commas and quotes, the markers pgaudit writes instead of text, bind
values when they are logged, records cut by rotation, lines that are not entries (counted
and reported, never dropped silently), standard input, following a growing file, and the
log_line_prefix read from the server."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from hardening import audit, migrate
from hardening.audit.reader import detect
from hardening.audit.record import client_address, iso_time
from hardening.audit.stderr import Prefix
from hardening.errors import LogFormatError
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.audit.logs import (
    FORMS,
    PREFIX,
    SUFFIX,
    LogMark,
    of_database,
    run_audit,
)

SCHEMA = json.loads(
    (Path(audit.__file__).parent / "record.schema.json").read_text(encoding="utf-8")
)
CREATE = """CREATE TABLE public.notes (
    id int,  -- "id", as in: the key
    body text
)"""
MULTILINE_INSERT = """INSERT INTO notes VALUES (1, 'a, "quoted"
second line, with a comma')"""


def execute(url: URL, *statements: str | sql.Composed, params: Any = None) -> None:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, params)


def set_database(url: URL, **settings: str) -> None:
    for name, value in settings.items():
        execute(
            url,
            sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(str(url.database)),
                sql.Identifier(*name.split(".")),
                sql.Literal(value),
            ),
        )


def read_all(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], database: str
) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for form in FORMS:
        extra = ["--log-line-prefix", PREFIX] if form == "stderr" else []
        code, records, err = run_audit(capsys, str(files[form]), *extra)
        assert code == 0, err
        found[form] = of_database(records, database)
        for record in records:
            jsonschema.validate(record, SCHEMA)
    return found


def parts(records: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in records]


# --- what pgaudit writes --------------------------------------------------------------------


def test_statements_over_several_lines_with_quotes_and_commas_read_whole(
    log_server: PgServer, audited_database: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = LogMark.now(log_server)
    execute(
        audited_database, CREATE, MULTILINE_INSERT, "CREATE ROLE reader_pw_role PASSWORD 'plain-pw'"
    )
    execute(audited_database, "DROP ROLE reader_pw_role")
    for form, records in read_all(
        mark.files(tmp_path), capsys, str(audited_database.database)
    ).items():
        assert parts(records, "class", "command", "object_name", "statement") == [
            ("DDL", "CREATE TABLE", "public.notes", CREATE),
            ("WRITE", "INSERT", "public.notes", MULTILINE_INSERT),
            ("ROLE", "CREATE ROLE", None, "CREATE ROLE reader_pw_role PASSWORD <REDACTED>"),
            ("ROLE", "DROP ROLE", None, "DROP ROLE reader_pw_role"),
        ], form
        assert "plain-pw" not in repr(records)
        assert [r["parameter"] for r in records] == [None] * 4  # <not logged>


def test_logged_bind_values_and_statements_logged_once_are_read_as_pgaudit_meant(
    log_server: PgServer, audited_database: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not the kit's settings (which keep parameters out): what the reader makes of them."""
    execute(
        audited_database,
        "CREATE TABLE t1 (a text, b text, c text, d text)",
        "CREATE TABLE t2 (a int)",
    )
    set_database(
        audited_database,
        **{
            "pgaudit.log": "write, read",
            "pgaudit.log_parameter": "on",
            "pgaudit.log_statement_once": "on",
        },
    )
    mark = LogMark.now(log_server)
    values = ["a,b", 'say "hi"', None, "multi\nline"]
    execute(audited_database, "INSERT INTO t1 VALUES (%s, %s, %s, %s)", params=values)
    execute(audited_database, "INSERT INTO t2 SELECT length(a) FROM t1")
    for form, records in read_all(
        mark.files(tmp_path), capsys, str(audited_database.database)
    ).items():
        assert parts(records, "class", "object_name", "statement", "parameter") == [
            (
                "WRITE",
                "public.t1",
                "INSERT INTO t1 VALUES ($1, $2, $3, $4)",
                [*values[:2], "", values[3]],
            ),
            ("WRITE", "public.t2", "INSERT INTO t2 SELECT length(a) FROM t1", []),  # <none>
            ("READ", "public.t1", None, None),  # <previously logged>
        ], form
        assert records[1]["statement_id"] == records[2]["statement_id"]


def test_rows_are_read_where_pgaudit_logs_them(
    log_server: PgServer, audited_database: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(libpq_dsn(audited_database)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_settings WHERE name = 'pgaudit.log_rows'")
        if row.fetchone() != (1,):
            pytest.skip("this pgaudit has no log_rows (it came with pgaudit 1.7)")
    execute(audited_database, "CREATE TABLE r (a int)")
    set_database(audited_database, **{"pgaudit.log_rows": "on"})
    mark = LogMark.now(log_server)
    execute(audited_database, "INSERT INTO r SELECT generate_series(1, 3)")
    for form, records in read_all(
        mark.files(tmp_path), capsys, str(audited_database.database)
    ).items():
        assert parts(records, "command", "rows") == [("INSERT", 3)], form


# --- what is not a record ---------------------------------------------------------------------


def _workload_files(server: PgServer, url: URL, tmp_path: Path) -> dict[str, Path]:
    mark = LogMark.now(server)
    execute(url, CREATE)
    for number in range(2, 6):
        execute(url, f"INSERT INTO notes VALUES ({number}, 'n')")
    execute(url, MULTILINE_INSERT)
    execute(url, "INSERT INTO notes VALUES (9, 'last')")
    return mark.files(tmp_path)


def test_a_record_cut_by_rotation_is_reported_and_every_other_one_read(
    log_server: PgServer, audited_database: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each file cut in the middle of the multi-line INSERT's entry, as a copy-and-truncate
    rotation can: its head ends one file, its tail starts the next."""
    files = _workload_files(log_server, audited_database, tmp_path)
    for form, path in files.items():
        text = path.read_text()
        cut = text.index("second line, with")
        head, tail = tmp_path / f"1{SUFFIX[form]}", tmp_path / f"2{SUFFIX[form]}"
        head.write_text(text[:cut])
        tail.write_text(text[cut:])
        extra = ["--log-line-prefix", PREFIX] if form == "stderr" else []
        code, records, err = run_audit(capsys, str(head), str(tail), *extra)
        mine = of_database(records, str(audited_database.database))
        assert code == 1, form
        assert [r["statement"][:29] for r in mine] == [
            CREATE[:29],
            *(f"INSERT INTO notes VALUES ({n}, " for n in range(2, 6)),
            "INSERT INTO notes VALUES (9, ",
        ], form
        assert "2 not parsed" in err, err
        assert f"{head}:" in err, err
        assert f"{tail}:1" in err, err
        assert "second line" not in err  # where and why, never the text


def test_lines_that_are_not_entries_are_counted_and_reported_not_dropped(
    log_server: PgServer, audited_database: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _workload_files(log_server, audited_database, tmp_path)
    garbage = ['not a log line with "a quote', "secret-garbage-123"]
    for form, path in files.items():
        entries = _entries(path.read_text(), form)
        half = len(entries) // 2
        middle = sum(entry.count("\n") for entry in entries[:half])  # lines before it
        broken = tmp_path / f"broken{SUFFIX[form]}"
        # a stray quote on its own line: csvlog must not let it swallow the records after it
        broken.write_text("".join([*entries[:half], *(g + "\n" for g in garbage), *entries[half:]]))
        extra = ["--log-line-prefix", PREFIX] if form == "stderr" else []
        code, records, err = run_audit(capsys, str(broken), *extra)
        assert code == 1, form
        assert len(of_database(records, str(audited_database.database))) == 7, (form, err)
        assert "not parsed" in err
        assert f"{broken}:{middle + 1}" in err, err
        assert "secret-garbage-123" not in err


def test_a_prefix_the_server_does_not_use_is_reported_with_the_fix_and_read_from_the_server(
    pg_database: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The test image logs to stderr with '%m [%p] %q%u@%d ' (no %a: no actor)."""
    migrate.upgrade(pg_database.url)
    cursor = pg_database.server.log_cursor()
    execute(pg_database.url, "CREATE TABLE p (a int)")
    path = tmp_path / "docker.log"
    path.write_text(cursor.settle())
    code, records, err = run_audit(capsys, str(path))  # PostgreSQL's default prefix
    assert code == 1
    assert "give the server's with --log-line-prefix, or --url" in err
    url = pg_database.url.render_as_string(hide_password=False)
    code, records, err = run_audit(capsys, str(path), "--url", url)
    assert code == 0, err
    assert parts(of_database(records, pg_database.name), "user", "command", "actor") == [
        ("postgres", "CREATE TABLE", None)
    ]
    assert pg_database.url.password not in err  # type: ignore[operator]


def test_an_unknown_prefix_escape_or_log_form_or_missing_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.log"
    path.write_text("")
    for args, expected in [
        ((str(path), "--log-line-prefix", "%m %Z "), "has the escape %Z"),
        ((str(tmp_path / "missing.log"),), "cannot read"),
        ((str(path), str(path), "--follow"), "--follow reads one log file"),
    ]:
        code, _, err = run_audit(capsys, *args)
        assert code == 2, args
        assert err.count("\n") == 1, err
        assert expected in err


# --- other ways in ------------------------------------------------------------------------------


def _cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hardening.cli", "audit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_standard_input_is_read_and_its_form_detected(
    log_server: PgServer, audited_database: URL, tmp_path: Path
) -> None:
    files = _workload_files(log_server, audited_database, tmp_path)
    for form in ("csvlog", "jsonlog"):
        proc = _cli("-", stdin=subprocess.PIPE)
        out, err = proc.communicate(files[form].read_text(), timeout=60)
        assert proc.returncode == 0, err
        mine = of_database(
            [json.loads(line) for line in out.splitlines()], str(audited_database.database)
        )
        assert len(mine) == 7, form
        assert {r["log_file"] for r in mine} == {"-"}
        assert f"({form})" in err


def _entries(text: str, form: str) -> list[str]:
    """The text of each log entry: a stderr entry's continuation lines start with a tab, a
    csvlog entry continues while a quoted field is open."""
    entries: list[str] = []
    for line in text.splitlines(keepends=True):
        if form == "stderr" and line.startswith("\t"):
            entries[-1] += line
        elif form == "csvlog" and entries and entries[-1].count('"') % 2:
            entries[-1] += line  # inside a quoted field
        else:
            entries.append(line)
    return entries


class _Lines:
    """The lines a process writes, read in the background, waited for with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            for line in stream:
                self.queue.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def take(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return [
            json.loads(self.queue.get(timeout=max(deadline - time.monotonic(), 0.01)))
            for _ in range(count)
        ]


def test_follow_writes_records_as_they_arrive_and_across_a_rotation(
    log_server: PgServer, audited_database: URL, tmp_path: Path
) -> None:
    files = _workload_files(log_server, audited_database, tmp_path)
    for form in ("stderr", "jsonlog"):
        entries = _entries(files[form].read_text(), form)
        first = next(i for i, e in enumerate(entries) if "AUDIT: " in e) + 1
        followed = tmp_path / f"followed{SUFFIX[form]}"
        followed.write_text("".join(entries[:first]))
        extra = ["--log-line-prefix", PREFIX] if form == "stderr" else []
        proc = _cli("--follow", str(followed), *extra)
        out = _Lines(proc)
        try:
            got = out.take(1)  # written while the rest of the log does not exist yet
            with followed.open("a") as more:
                more.writelines(entries[first:])
            got += out.take(6)
            followed.rename(tmp_path / f"rotated{SUFFIX[form]}")  # a new file, the same name
            followed.write_text("".join(entries))
            got += out.take(7)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        values = [r["statement"].split("VALUES ")[-1][:2] for r in got]
        assert values == ["CR", "(2", "(3", "(4", "(5", "(1", "(9"] * 2, form
        assert {r["database"] for r in got} == {audited_database.database}


# --- pieces -------------------------------------------------------------------------------------


def test_the_form_is_detected_by_name_then_first_line() -> None:
    assert detect("pg.csv", "") == "csvlog"
    assert detect("pg.json", "") == "jsonlog"
    assert detect("-", '{"timestamp":"2024-05-01 12:00:00.123 UTC"}') == "jsonlog"
    assert detect("-", "2024-05-01 12:00:00.123 UTC,,,42,,6b1.2a,1,,") == "csvlog"
    assert detect("-", "2024-05-01 12:00:00.123 UTC [42] LOG:  x") == "stderr"


def test_times_and_clients_are_normalised() -> None:
    assert iso_time("2024-05-01 12:00:00.123 UTC") == "2024-05-01T12:00:00.123Z"
    assert iso_time("2024-05-01 12:00:00 +03") == "2024-05-01T12:00:00+03:00"
    assert iso_time("2024-05-01 12:00:00.5 CEST") == "2024-05-01 12:00:00.5 CEST"
    assert client_address("::1", 5432) == "[::1]:5432"
    assert client_address("[local]") == "[local]"
    assert client_address("") is None


def test_a_prefix_reads_padded_escapes_and_leaves_out_what_follows_q() -> None:
    prefix = Prefix.compile("%t [%-6p] %q%u@%d %a %r %c %% ")
    entry = prefix.entry(["2024-05-01 12:00:00 UTC [42    ] LOG:  checkpoint starting"])
    assert (entry.pid, entry.user, entry.message) == (42, None, "checkpoint starting")
    entry = prefix.entry(
        [
            "2024-05-01 12:00:00 UTC [7     ] app@shop web actor=u:1 10.0.0.7(5000) 6b1.2a % "
            'LOG:  AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,"CREATE TABLE t (',
            '\t  a int)",<not logged>',
        ]
    )
    assert (entry.user, entry.database, entry.application_name, entry.client) == (
        "app",
        "shop",
        "web actor=u:1",
        "10.0.0.7:5000",
    )
    assert entry.message.endswith('t (\n  a int)",<not logged>')
    with pytest.raises(LogFormatError, match="escape %Z"):
        Prefix.compile("%Z")
