"""The end user who acted: ``actor()`` sets it, ``instrument(engine)`` carries it in the
connection's application_name, the log records it, and nothing else changes: hostile values
cannot end a comment, inject SQL or forge a field; the statement text, and so the plan a
prepared statement reuses, is the same whoever acts; only the given engine is touched."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from hardening import audit, cli
from hardening.audit.actor import (
    MAX_ENCODED,
    application_name,
    current_actor,
    decode,
    encode,
    split_application_name,
)
from hardening.audit.formats import _word
from hardening.audit.instrument import _before_cursor_execute
from hardening.errors import ActorError, AuditError
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from tests.audit.logs import (
    FORMS,
    PREFIX,
    LogMark,
    of_database,
    run_audit,
)

HOSTILE = [
    "*/ DROP TABLE t; --",
    "'); DROP TABLE t; --",
    'a", "b',
    "x client=1 LOG:  AUDIT: SESSION,9",
    'l1\n2026-01-01 00:00:00 UTC,"root"',
    '{"message":"AUDIT: x"}',
    "tab\there\x00nul\\back",
    "actor=admin",
    "%41%",
    "ünï 🎉",
    "root",
]


@pytest.fixture
def audited(audited_database: URL) -> URL:
    """A database after the kit's migrations (ddl, role, write), with a table ``t``."""
    with psycopg.connect(libpq_dsn(audited_database), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id int, who text)")
    return audited_database


def _records(
    server: PgServer,
    mark: LogMark,
    url: URL,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, list[dict[str, Any]]]:
    """The database's records since ``mark``, in each log form, through ``hardening audit``."""
    files = mark.files(tmp_path)
    found = {}
    for form in FORMS:
        args = [str(files[form])] + (["--log-line-prefix", PREFIX] if form == "stderr" else [])
        code, records, err = run_audit(capsys, *args)
        assert code == 0, err
        found[form] = of_database(records, str(url.database))
    return found


# --- the value and its encoding ---------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_an_encoded_actor_holds_nothing_that_ends_a_literal_comment_or_field(value: str) -> None:
    encoded = encode(value)
    assert set(encoded) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-~%"
    )
    assert decode(encoded) == value
    name = application_name("billing app", encoded)
    assert len(name.encode()) <= 63
    application, carried = split_application_name(name)
    assert carried == value
    assert "billing app".startswith(application or "")  # shortened to make room, if need be


def test_a_value_too_long_to_carry_whole_is_refused_not_cut() -> None:
    fits = "u" * MAX_ENCODED
    assert decode(encode(fits)) == fits
    with pytest.raises(ActorError, match=r"58 characters encodes to 58 bytes; at most 57"):
        encode("u" * (MAX_ENCODED + 1))
    with pytest.raises(ActorError, match="encodes to 60 bytes"):  # 20 x '%2A'
        encode("*" * 20)
    for bad in ("", None, 42, "\ud800"):
        with pytest.raises(ActorError):
            encode(bad)  # type: ignore[arg-type]
    with pytest.raises(ActorError), audit.actor("x" * 100):
        pytest.fail("the block must not run")


def test_the_application_name_is_shortened_never_the_actor() -> None:
    name = application_name("a-very-long-application-name-" * 3, "user:42")
    assert len(name) == 63
    assert name.endswith(" actor=user:42")
    assert application_name("", "user:42") == "actor=user:42"
    assert application_name("web", None) == "web"
    assert split_application_name("web") == ("web", None)
    assert split_application_name("") == (None, None)
    assert split_application_name("actor=a b") == ("actor=a b", None)  # not the kit's encoding


def test_actor_blocks_nest_and_follow_asyncio_tasks() -> None:
    assert current_actor() is None
    with audit.actor("outer"):
        with audit.actor("inner"):
            assert current_actor() == "inner"
        with audit.actor(None):
            assert current_actor() is None
        assert current_actor() == "outer"

        async def both() -> list[str | None]:
            async def one(name: str) -> str | None:
                with audit.actor(name):
                    await asyncio.sleep(0.01)
                    return current_actor()

            async def inherited() -> str | None:
                await asyncio.sleep(0.02)
                return current_actor()

            return list(await asyncio.gather(one("a"), one("b"), inherited()))

        assert asyncio.run(both()) == ["a", "b", "outer"]
    assert current_actor() is None


# --- carried by an instrumented engine ----------------------------------------------------------


def test_hostile_actors_reach_the_log_exactly_and_change_nothing_else(
    log_server: PgServer, audited: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = LogMark.now(log_server)
    engine = audit.instrument(create_engine(audited))
    try:
        for number, value in enumerate(HOSTILE):
            with audit.actor(value), engine.begin() as conn:
                conn.execute(text("INSERT INTO t (id, who) VALUES (:i, 'x')"), {"i": number})
    finally:
        engine.dispose()
    for form, records in _records(log_server, mark, audited, tmp_path, capsys).items():
        writes = [r for r in records if r["class"] == "WRITE"]
        assert [r["actor"] for r in writes] == HOSTILE, form
        assert len(records) == len(HOSTILE), form  # nothing forged next to them
        for record in writes:
            assert record["user"] == "postgres"
            assert record["command"] == "INSERT"
            assert record["object_name"] == "public.t"
            assert record["statement"] == "INSERT INTO t (id, who) VALUES ($1, 'x')"
            assert record["application"] is None
    with psycopg.connect(libpq_dsn(audited)) as conn:  # no statement was injected
        count = conn.execute("SELECT count(*) FROM t").fetchone()
    assert count == (len(HOSTILE),)
    # the text format shows each one as one word of one line: quoted where it must be
    capsys.readouterr()
    assert cli.main(["audit", "--format", "text", str(tmp_path / "audit.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(HOSTILE)
    for line, value in zip(lines, HOSTILE, strict=True):
        assert line.split(" ", 1)[1].startswith(_word(value) + " postgres@"), line
    assert _word("user:42") == "user:42"
    assert _word("a b") == '"a b"'


def test_the_same_prepared_plan_serves_every_actor(
    log_server: PgServer, audited: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """psycopg prepares every statement here (prepare_threshold 0): the server's
    pg_prepared_statements for the session shows one statement, executed by both actors,
    and no SET among them. A comment per actor (the other design) shows two."""
    mark = LogMark.now(log_server)
    engine = audit.instrument(
        create_engine(audited, pool_size=1, connect_args={"prepare_threshold": 0})
    )
    update = "UPDATE t SET who = $1 WHERE id = $2"
    try:
        for turn in range(6):
            with audit.actor(("alice:1", "bob:2")[turn % 2]), engine.begin() as conn:
                conn.execute(text("UPDATE t SET who = :w WHERE id = :i"), {"w": "x", "i": turn})
        with engine.connect() as conn:
            prepared = conn.execute(
                text(
                    "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
                    " WHERE NOT from_sql ORDER BY statement"
                )
            ).all()
            for who in ("alice", "bob"):  # the other design, for contrast
                conn.execute(text(f"SELECT 1 /* actor='{who}' */"))
            commented = conn.execute(
                text(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT 1 %'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(row) for row in prepared if "pg_prepared" not in row[0]] == [(update, 6)]
    assert commented == 2
    for form, records in _records(log_server, mark, audited, tmp_path, capsys).items():
        updates = [r["actor"] for r in records if r["command"] == "UPDATE"]
        assert updates == ["alice:1", "bob:2"] * 3, form
        assert {r["statement"] for r in records if r["command"] == "UPDATE"} == {update}


def test_a_rolled_back_actor_is_set_again_and_a_pooled_connection_keeps_no_stale_one(
    log_server: PgServer, audited: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(libpq_dsn(audited), autocommit=True) as conn:  # SETs get records too
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET pgaudit.log = 'write, misc_set'").format(
                sql.Identifier(str(audited.database))
            )
        )
    mark = LogMark.now(log_server)
    engine = audit.instrument(create_engine(audited, pool_size=1, max_overflow=0))
    insert = text("INSERT INTO t (id, who) VALUES (:i, 'x')")
    try:
        with audit.actor("carol:3"), engine.connect() as conn:
            conn.execute(insert, {"i": 1})
            conn.rollback()  # undoes the SET too; the server reports the old name back
            name = conn.connection.dbapi_connection.info.parameter_status("application_name")  # type: ignore[union-attr]
            assert name == ""
            conn.execute(insert, {"i": 2})
            conn.commit()
            conn.execute(insert, {"i": 3})  # the same actor: no second SET
            conn.commit()
        with engine.begin() as conn:  # the same pooled connection, no actor now
            conn.execute(insert, {"i": 4})
        with audit.actor("dave:4"), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            shown = conn.execute(text("SHOW application_name")).scalar_one()
    finally:
        engine.dispose()
    assert shown == "actor=dave:4"
    for form, records in _records(log_server, mark, audited, tmp_path, capsys).items():
        # the rolled-back insert is logged too (pgaudit logs at execution): it was carol's
        assert [(r["command"], r["actor"]) for r in records] == [
            ("SET", "carol:3"),
            ("INSERT", "carol:3"),
            ("SET", "carol:3"),  # again: the rollback undid the first
            ("INSERT", "carol:3"),
            ("INSERT", "carol:3"),  # the same actor, no SET
            ("SET", None),  # back to the connection's own name
            ("INSERT", None),
            ("SET", "dave:4"),
        ], form


def test_async_engines_carry_the_actor_of_each_task(
    log_server: PgServer, audited: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = LogMark.now(log_server)

    async def work() -> None:
        engine = audit.instrument(create_async_engine(audited))

        async def one(who: str, number: int) -> None:
            with audit.actor(who):
                async with engine.begin() as conn:
                    await asyncio.sleep(0.01 * number)
                    await conn.execute(text(f"INSERT INTO t (id, who) VALUES ({number}, 'x')"))

        try:
            await asyncio.gather(*(one(f"task:{n}", n) for n in range(4)))
        finally:
            await engine.dispose()

    asyncio.run(work())
    for form, records in _records(log_server, mark, audited, tmp_path, capsys).items():
        got = {r["statement"]: r["actor"] for r in records if r["command"] == "INSERT"}
        assert got == {
            f"INSERT INTO t (id, who) VALUES ({n}, 'x')": f"task:{n}" for n in range(4)
        }, form


def test_only_the_instrumented_engine_carries_the_actor(
    log_server: PgServer, audited: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = LogMark.now(log_server)
    plain = create_engine(audited)
    instrumented = audit.instrument(audit.instrument(create_engine(audited)))  # twice: once
    try:
        with audit.actor("erin:5"):
            for number, engine in enumerate((plain, instrumented)):
                with engine.begin() as conn:
                    conn.execute(text(f"INSERT INTO t (id, who) VALUES ({number}, 'x')"))
        audit.uninstrument(instrumented)
        with audit.actor("erin:5"), instrumented.begin() as conn:
            conn.execute(text("SELECT pg_backend_pid()"))
            kept = conn.execute(text("SHOW application_name")).scalar_one()
    finally:
        plain.dispose()
        instrumented.dispose()
    assert kept == "actor=erin:5"  # left as it was: uninstrument sends nothing
    assert not event.contains(Engine, "before_cursor_execute", _before_cursor_execute)
    assert not event.contains(instrumented, "before_cursor_execute", _before_cursor_execute)
    for form, records in _records(log_server, mark, audited, tmp_path, capsys).items():
        assert [r["actor"] for r in records if r["command"] == "INSERT"] == [None, "erin:5"], form


def test_other_drivers_are_refused_by_name() -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(AuditError, match=r"psycopg 3 driver; this engine uses sqlite\+pysqlite"):
        audit.instrument(engine)
    with pytest.raises(AuditError, match="not str"):
        audit.instrument("postgresql://x")  # type: ignore[type-var]


def test_importing_the_audit_package_installs_no_listener() -> None:
    code = (
        "import hardening.audit, hardening.commands.audit; from sqlalchemy import "
        "create_engine; e = create_engine('postgresql+psycopg://u@h/d'); "
        "print(len(e.dispatch.before_cursor_execute), len(e.dispatch.after_cursor_execute))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["0", "0"]
