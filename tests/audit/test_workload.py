"""Done means: an application workload under two actors (sync and async engines), on a
server writing stderr, csvlog and jsonlog at once; ``hardening audit`` returns, from each
form, every DDL, role and write record with the right actor, role, class, command, object
and statement, none with a bind value, and the same records from all three."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from hardening import audit, migrate
from hardening.settings import SETTINGS, libpq_dsn
from hardening.testing import PgServer
from tests.audit.logs import (
    FORMS,
    PREFIX,
    LogMark,
    of_database,
    run_audit,
    without_position,
)

CREATE_TABLE = """CREATE TABLE public.accounts (
    owner text,  -- who owns it, "display" name
    note text,
    credit int
)"""
INSERT = "INSERT INTO public.accounts (owner, note, credit) VALUES ($1, $2, $3)"
UPDATE = "UPDATE public.accounts SET note = $1 WHERE owner = $2"
DELETE = "DELETE FROM public.accounts WHERE owner = $1 AND note = $2"


def _sa(statement: str) -> str:
    """The statement as SQLAlchemy's text() takes it (psycopg sends $n again)."""
    for n, name in enumerate(("a", "b", "c"), 1):
        statement = statement.replace(f"${n}", f":{name}")
    return statement


def test_an_application_workload_is_attributed_to_its_actors_in_every_log_form(
    log_server: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_role = f"audit_app_{uuid.uuid4().hex[:8]}"
    app_password = f"pw-{uuid.uuid4().hex}"
    secrets = [f"bind-secret-{uuid.uuid4().hex}" for _ in range(6)]
    readwrite = SETTINGS["readwrite_role"].default
    with log_server.database("audit") as url:
        migrate.upgrade(url)  # the kit's defaults: ddl, role, write; no parameters
        database = str(url.database)
        mark = LogMark.now(log_server)
        admin = audit.instrument(create_engine(url))
        with audit.actor("deploy:ci"), admin.begin() as conn:
            conn.execute(text(CREATE_TABLE))
            conn.exec_driver_sql(f"CREATE ROLE {app_role} LOGIN PASSWORD '{app_password}'")
            conn.exec_driver_sql(f"GRANT {readwrite} TO {app_role}")
            conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO {app_role}')
        app_url = log_server.url_for(database, app_role, app_password)
        app = audit.instrument(create_engine(app_url))
        try:
            with audit.actor("alice:1"), app.begin() as conn:
                conn.execute(text(_sa(INSERT)), {"a": "alice", "b": secrets[0], "c": 10})
                conn.execute(text(_sa(UPDATE)), {"a": secrets[1], "b": "alice"})
            with audit.actor("bob:2"), app.begin() as conn:
                conn.execute(text(_sa(INSERT)), {"a": "bob", "b": secrets[2], "c": 20})
            asyncio.run(_async_part(app_url, secrets))
            with app.begin() as conn:  # no actor: the record says so, it does not guess
                conn.execute(text(_sa(UPDATE)), {"a": secrets[5], "b": "nobody"})
            files = mark.files(tmp_path)
            with admin.connect() as conn:  # the workload ran as written
                rows = conn.execute(text("SELECT owner, credit FROM accounts ORDER BY 1, 2")).all()
            assert [tuple(r) for r in rows] == [("bob", 20), ("bob", 30)]
        finally:
            app.dispose()
            admin.dispose()
            with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
                role = sql.Identifier(app_role)
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
                conn.execute(sql.SQL("DROP ROLE {}").format(role))

    expected = sorted(
        [
            ("deploy:ci", "postgres", "DDL", "CREATE TABLE", "public.accounts", CREATE_TABLE),
            (
                "deploy:ci",
                "postgres",
                "ROLE",
                "CREATE ROLE",
                None,
                f"CREATE ROLE {app_role} LOGIN PASSWORD <REDACTED>",
            ),
            (
                "deploy:ci",
                "postgres",
                "ROLE",
                "GRANT ROLE",
                None,
                f"GRANT {readwrite} TO {app_role}",
            ),
            (
                "deploy:ci",
                "postgres",
                "ROLE",
                "GRANT",
                None,
                f'GRANT CONNECT ON DATABASE "{database}" TO {app_role}',
            ),
            ("alice:1", app_role, "WRITE", "INSERT", "public.accounts", INSERT),
            ("alice:1", app_role, "WRITE", "UPDATE", "public.accounts", UPDATE),
            ("bob:2", app_role, "WRITE", "INSERT", "public.accounts", INSERT),
            ("bob:2", app_role, "WRITE", "INSERT", "public.accounts", INSERT),
            ("alice:1", app_role, "WRITE", "DELETE", "public.accounts", DELETE),
            (None, app_role, "WRITE", "UPDATE", "public.accounts", UPDATE),
        ],
        key=repr,
    )
    outputs: dict[str, list[dict[str, Any]]] = {}
    for form in FORMS:
        args = [str(files[form])] + (["--log-line-prefix", PREFIX] if form == "stderr" else [])
        code, records, err = run_audit(capsys, *args)
        assert code == 0, err
        assert f"({form}), " in err
        assert " 0 not parsed" in err
        mine = of_database(records, database)
        got = sorted(
            [
                (
                    r["actor"],
                    r["user"],
                    r["class"],
                    r["command"],
                    r["object_name"],
                    r["statement"],
                )
                for r in mine
                if r["class"] in ("DDL", "ROLE", "WRITE")
            ],
            key=repr,
        )
        assert got == expected, form
        for record in mine:
            assert record["parameter"] is None, record  # pgaudit.log_parameter is off
            assert record["audit_type"] == "SESSION"
            assert record["client"]
            assert record["session_id"]
            assert record["time"].endswith("Z")
        shown = files[form].read_text() + repr(records)
        assert not [s for s in secrets if s in shown], f"a bind value reached the {form} log"
        assert app_password not in shown
        outputs[form] = [without_position(r) for r in mine]
    assert outputs["stderr"] == outputs["csvlog"] == outputs["jsonlog"]


async def _async_part(app_url: Any, secrets: list[str]) -> None:
    """Two tasks at once on one async engine, each under its own actor."""
    engine = audit.instrument(create_async_engine(app_url))

    async def bob() -> None:
        with audit.actor("bob:2"):
            async with engine.begin() as conn:
                await asyncio.sleep(0.01)
                await conn.execute(text(_sa(INSERT)), {"a": "bob", "b": secrets[3], "c": 30})

    async def alice() -> None:
        with audit.actor("alice:1"):
            async with engine.begin() as conn:
                await conn.execute(text(_sa(DELETE)), {"a": "alice", "b": secrets[1]})
                await asyncio.sleep(0.02)

    try:
        await asyncio.gather(bob(), alice())
    finally:
        await engine.dispose()
