"""Runs at head: an upgrade again changes nothing, and -x values for steps applied before (which
alembic does not run again) are named, with the downgrade and upgrade that apply them."""

from __future__ import annotations

import psycopg

from hardening import migrate
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import alembic_cli, db_settings, printed_commands
from tests.roles import execute, unique_roles


def test_rerunning_upgrade_head_changes_nothing(pg_database: PgDatabase) -> None:
    roles = unique_roles()
    migrate.upgrade(pg_database.url, "head", **roles)
    with psycopg.connect(pg_database.dsn) as conn:
        records = conn.execute("SELECT count(*) FROM hardening.applied").fetchone()
    first = snapshot(pg_database.dsn)
    proc = alembic_cli("upgrade", "head", dsn=pg_database.dsn)
    assert proc.returncode == 0, proc.stderr
    assert "Running upgrade" not in proc.stderr
    assert diff(first, snapshot(pg_database.dsn)) == {}
    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM hardening.applied").fetchone() == records


def test_settings_given_for_steps_applied_before_are_named_with_how_to_apply_them(
    pg_database: PgDatabase,
) -> None:
    # Alembic never runs an applied step again: at head, new -x values did nothing, silently.
    # Now a run says which took no effect and how to apply them; the same values stay quiet.
    execute(pg_database.dsn, "CREATE TABLE public.users (id int)")
    roles = [a for n, v in unique_roles().items() for a in ("-x", f"{n}={v}")]
    first = [*roles, "-x", "audit_tables=public.users:SELECT", "-x", "password_min_length=16"]
    before = snapshot(pg_database.dsn)
    proc = alembic_cli(*first, "upgrade", "head", dsn=pg_database.dsn)
    assert proc.returncode == 0, proc.stderr
    hardened = snapshot(pg_database.dsn)
    proc = alembic_cli(
        *first, "-x", "audit_log=DDL,role, write", "upgrade", "head", dsn=pg_database.dsn
    )
    assert proc.returncode == 0, proc.stderr
    assert "pg-hardening:" not in proc.stderr  # a repeated deploy: same values, quiet

    changed = ["-x", "audit_log=all", "-x", "audit_tables=public.users:SELECT,UPDATE"]
    proc = alembic_cli(
        *roles, *changed, "-x", "password_min_length=20", "upgrade", "head", dsn=pg_database.dsn
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("pg-hardening:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "pg-hardening: warning: -x audit_log=all -x audit_tables=public.users:SELECT,UPDATE "
        "-x password_min_length=20 took no effect: alembic does not run an applied step again "
    ), lines[0]
    assert "_role=" not in lines[0]  # the role settings match what the steps made
    assert diff(hardened, snapshot(pg_database.dsn)) == {}
    commands = printed_commands(lines[0].split("To apply them: ", 1)[1].split(" (with")[0])
    assert commands[0] == ["downgrade", "h002_pgcrypto"]
    for args in commands:  # as printed, with the role settings given before
        proc = alembic_cli(*roles, *args, dsn=pg_database.dsn)
        assert proc.returncode == 0, proc.stderr
    assert db_settings(pg_database.dsn)["pgaudit.log"] == "all"
    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT min_length FROM hardening.password_policy").fetchone() == (20,)
    proc = alembic_cli(*roles, *commands[1], dsn=pg_database.dsn)
    assert proc.returncode == 0, proc.stderr
    assert "pg-hardening:" not in proc.stderr  # now in effect
    proc = alembic_cli(*roles, "downgrade", "base", dsn=pg_database.dsn)
    assert proc.returncode == 0, proc.stderr
    assert diff(before, snapshot(pg_database.dsn)) == {}
