"""What the migration tests share: running alembic as users do, reading what a run left."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.config import CommandLine
from psycopg import sql

from hardening import steps
from hardening.errors import HardeningError
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.roles import execute

ROOT = Path(__file__).resolve().parent.parent.parent
REVISIONS = [step.id for step in steps.STEPS]


def alembic_cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDENING_")}
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={dsn}", *args],
        cwd=ROOT,
        env={**env, "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        check=False,
    )


def project_alembic(
    *args: str, cwd: Path, dsn: str, roles: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``alembic ARGS`` in an application's project (``cwd``), whose own env.py owns ``-x``:
    the kit's settings ``roles`` come as ``HARDENING_<NAME>`` variables there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDENING_")}
    env.update({f"HARDENING_{k.upper()}": v for k, v in roles.items()})
    env["DATABASE_URL"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def x_options(values: dict[str, str]) -> list[str]:
    """``-x name=value`` for each setting, as alembic's command line takes them."""
    return [arg for name, value in values.items() for arg in ("-x", f"{name}={value}")]


def refused_upgrade(database: PgDatabase, values: dict[str, str]) -> tuple[str, str]:
    """``alembic upgrade head`` with ``values`` as -x settings, which must be refused with one
    ``alembic:`` line and change nothing: (that line, the whole stderr)."""
    before = snapshot(database.dsn)
    proc = alembic_cli(*x_options(values), "upgrade", "head", dsn=database.dsn)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
    assert len(lines) == 1, proc.stderr
    assert diff(before, snapshot(database.dsn)) == {}
    return lines[0], proc.stderr


def db_settings(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = 0 "
            "AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    return dict(row[0].split("=", 1) for row in rows)


def give_database(database: PgDatabase, owner: str) -> None:
    """ALTER DATABASE ... OWNER TO owner (the login_role fixture gives it back)."""
    execute(
        database.dsn,
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(database.name), sql.Identifier(owner)
        ),
    )


# What a superuser (or a managed service's admin) prepares so that a database owner with
# CREATEROLE, not a superuser, can apply every step up to head: see docs/migrations.md.
SETTABLE = (
    "pgaudit.log",
    "pgaudit.log_catalog",
    "pgaudit.log_parameter",
    "pgaudit.log_relation",
    "pgaudit.log_statement_once",
    "pgaudit.log_level",
    "pgaudit.log_client",
    "pgaudit.role",
    "log_parameter_max_length",  # (log_parameter_max_length_on_error is for any user to SET)
    "auto_explain.log_verbose",
    "auto_explain.log_parameter_max_length",  # PostgreSQL 16+ (granted on 15 too: harmless)
)


def prepare_owner(database: PgDatabase, owner: str, *, leave_out: str = "") -> None:
    """As a superuser: give ``owner`` the database and what it needs beyond CREATEROLE (less
    ``leave_out``: "extension", a parameter name, or "admin option")."""
    give_database(database, owner)
    role = sql.Identifier(owner)
    statements: list[str | sql.Composed] = []
    if leave_out != "extension":
        statements.append("CREATE EXTENSION pgaudit")
    settable = [sql.SQL(name) for name in SETTABLE if name != leave_out]
    statements.append(
        sql.SQL("GRANT SET ON PARAMETER {} TO {}").format(sql.SQL(", ").join(settable), role)
    )
    admin = sql.SQL("" if leave_out == "admin option" else " WITH ADMIN OPTION")
    statements.append(sql.SQL("GRANT pg_read_all_settings TO {}{}").format(role, admin))
    execute(database.dsn, *statements)


def exit_message(exc: pytest.ExceptionInfo[HardeningError]) -> str:
    """The one line a refused run of ``hardening.migrate`` raised (the message and its fix)."""
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def printed_commands(text: str) -> list[list[str]]:
    """The alembic commands in "alembic A, then alembic B" as a message prints them, each
    checked with alembic's own argument parser (it exits on arguments it does not take)."""
    commands = []
    for command_line in text.split(", then "):
        words = shlex.split(command_line)
        assert words[0] == "alembic", command_line
        CommandLine(prog="alembic").parser.parse_args(words[1:])
        commands.append(words[1:])
    return commands


def version_num(dsn: str) -> list[tuple[str]] | None:
    """The rows of hardening_version, or None when the table does not exist."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('hardening_version')").fetchone() == (None,):
            return None
        return [(str(r[0]),) for r in conn.execute("SELECT version_num FROM hardening_version")]


PGP_COSTS = """
    SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.procost
    FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgcrypto'
    WHERE p.proname LIKE 'pgp_sym_%' ORDER BY 1, 2"""


def pgp_costs(dsn: str) -> set[float]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(PGP_COSTS).fetchall()
    assert len(rows) == 8  # pgp_sym_{en,de}crypt[_bytea], each with and without options
    return {row[2] for row in rows}
