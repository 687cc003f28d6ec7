"""The hardening migrations: what `upgrade head` leaves behind, and that downgrades restore
the catalog exactly (see tests/migrations/catalog.py for what the snapshot covers)."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.config import CommandLine
from alembic.script import ScriptDirectory
from psycopg import sql

from hardening import migrate, sqlfiles
from hardening.settings import libpq_dsn
from hardening.steps import server_profile
from hardening.testing import LogCursor, PgServer
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.roles import ROLE_SETTINGS, execute, login_roles, unique_roles

ROOT = Path(__file__).resolve().parent.parent
REVISIONS = [
    rev.revision
    for rev in reversed(list(ScriptDirectory.from_config(migrate.config()).walk_revisions()))
]


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


def exit_message(exc: pytest.ExceptionInfo[SystemExit]) -> str:
    return str(exc.value.code)


@pytest.fixture
def login_role(pg_server: PgServer) -> Iterator[Callable[..., str]]:
    with login_roles(pg_server) as make:
        yield make


# --- what `upgrade head` does ----------------------------------------------------------------


def test_upgrade_head_enables_pgcrypto_pgaudit_scram_and_quiet_parameter_logging(
    pg_database: PgDatabase,
) -> None:
    migrate.upgrade(pg_database.url, "head")
    with psycopg.connect(pg_database.dsn) as conn:
        extensions = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        auditor = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'hardening_auditor'"
        ).fetchone()
    assert {"pgcrypto", "pgaudit"} <= extensions
    settings = db_settings(pg_database.dsn)
    assert settings["pgaudit.log"] == "ddl, role, write"
    assert settings["pgaudit.log_catalog"] == "off"
    assert settings["pgaudit.log_parameter"] == "off"
    assert settings["pgaudit.log_relation"] == "on"
    assert settings["pgaudit.role"] == "hardening_auditor"
    assert settings["password_encryption"] == "scram-sha-256"
    assert settings["log_parameter_max_length"] == "0"
    assert settings["log_parameter_max_length_on_error"] == "0"
    assert auditor == (False,)


def test_public_can_neither_create_in_schema_public_nor_connect(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    roles = unique_roles()
    user = login_role()
    migrate.upgrade(pg_database.url, "head", **roles)
    as_user = pg_database.url.set(username=user, password=user)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(libpq_dsn(as_user))
    execute(
        pg_database.dsn,
        sql.SQL("GRANT {} TO {}").format(
            sql.Identifier(roles["readwrite_role"]), sql.Identifier(user)
        ),
    )
    with (
        psycopg.connect(libpq_dsn(as_user)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema public"),
    ):
        conn.execute("CREATE TABLE public.intruder (id int)")


def test_group_roles_get_privileges_on_future_tables(pg_database: PgDatabase) -> None:
    roles = unique_roles()
    migrate.upgrade(pg_database.url, "h004_least_privilege", **roles)
    execute(pg_database.dsn, "CREATE TABLE public.orders (id serial, total int)")
    with psycopg.connect(pg_database.dsn) as conn:
        rows = conn.execute(
            "SELECT grantee, string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.role_table_grants WHERE table_name = 'orders' "
            "AND grantee = ANY(%s) GROUP BY grantee",
            ([roles["readonly_role"], roles["readwrite_role"]],),
        ).fetchall()
    assert dict(rows) == {
        roles["readonly_role"]: "SELECT",
        roles["readwrite_role"]: "DELETE,INSERT,SELECT,UPDATE",
    }


def test_audit_reader_reads_settings_and_the_kits_views_only(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    roles = unique_roles()
    execute(pg_database.dsn, "CREATE TABLE public.secrets (v text)")
    migrate.upgrade(pg_database.url, "head", **roles)
    user = login_role()
    execute(
        pg_database.dsn,
        sql.SQL("GRANT {} TO {}").format(
            sql.Identifier(roles["audit_reader_role"]), sql.Identifier(user)
        ),
    )
    with psycopg.connect(libpq_dsn(pg_database.url.set(username=user, password=user))) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        names = {r[0] for r in conn.execute("SELECT name FROM hardening.database_settings")}
        policy = conn.execute("SELECT min_length FROM hardening.password_policy").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM public.secrets")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM hardening.password_history")
    assert preload is not None
    assert "pgaudit" in preload[0]
    assert "pgaudit.log" in names
    assert policy == (14,)


def test_create_table_alter_role_insert_and_audited_reads_reach_the_log(
    pg_database: PgDatabase, pg_log: LogCursor
) -> None:
    roles = unique_roles()
    execute(pg_database.dsn, "CREATE TABLE public.users (id int, email text)")
    migrate.upgrade(pg_database.url, "head", audit_tables="public.users:SELECT", **roles)
    target = roles["readonly_role"]
    execute(
        pg_database.dsn,
        "CREATE TABLE public.audit_canary (id int)",
        sql.SQL("ALTER ROLE {} CONNECTION LIMIT 3").format(sql.Identifier(target)),
        "INSERT INTO public.audit_canary VALUES (1)",
        "SELECT * FROM public.users",
    )
    text = pg_log.settle()
    assert pg_log.wait_for(r"AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE,TABLE,public\.audit_canary")
    assert pg_log.wait_for(r"AUDIT: SESSION,\d+,\d+,ROLE,ALTER ROLE")
    assert pg_log.wait_for(r"AUDIT: SESSION,\d+,\d+,WRITE,INSERT,TABLE,public\.audit_canary")
    assert pg_log.wait_for(r"AUDIT: OBJECT,\d+,\d+,READ,SELECT,TABLE,public\.users")
    assert "AUDIT: SESSION" in text


# --- downgrades restore the catalog exactly ----------------------------------------------------


def test_downgrade_base_restores_the_catalog_exactly(pg_database: PgDatabase) -> None:
    execute(
        pg_database.dsn,
        # State a hardened database must change and a downgrade must put back:
        # PUBLIC may create in public (as before PostgreSQL 15), earlier database settings.
        "GRANT CREATE ON SCHEMA public TO PUBLIC",
        sql.SQL("ALTER DATABASE {} SET pgaudit.log = 'read, misc'").format(
            sql.Identifier(pg_database.name)
        ),
        sql.SQL("ALTER DATABASE {} SET log_parameter_max_length = 64").format(
            sql.Identifier(pg_database.name)
        ),
        "CREATE TABLE public.users (id int)",
    )
    before = snapshot(pg_database.dsn)
    roles = unique_roles()
    migrate.upgrade(pg_database.url, "head", audit_tables="public.users:SELECT,UPDATE", **roles)
    hardened = snapshot(pg_database.dsn)
    assert db_settings(pg_database.dsn)["pgaudit.log"] == "ddl, role, write"
    assert ("public", "postgres", "PUBLIC", "CREATE", False) not in hardened["schema_acls"]
    migrate.downgrade(pg_database.url, "base", **roles)
    assert diff(before, snapshot(pg_database.dsn)) == {}
    assert db_settings(pg_database.dsn)["pgaudit.log"] == "read, misc"


def test_the_snapshot_compares_membership_options(pg_database: PgDatabase) -> None:
    # A downgrade that left a membership in place but changed its INHERIT or SET option
    # (PostgreSQL 16+) must show in the diff; on 15 the options do not exist and read NULL.
    group, member = (f"{tag}_{uuid.uuid4().hex[:8]}" for tag in ("group", "member"))
    create = sql.SQL("CREATE ROLE {} NOLOGIN")
    execute(
        pg_database.dsn,
        create.format(sql.Identifier(group)),
        create.format(sql.Identifier(member)),
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(member)),
    )
    try:
        before = snapshot(pg_database.dsn)
        options = [row[2:5] for row in before["memberships"] if row[:2] == (group, member)]
        if pg_database.server.version < 16:
            assert options == [(False, None, None)]
            return
        assert options == [(False, True, True)]
        for option in ("INHERIT", "SET"):
            execute(
                pg_database.dsn,
                sql.SQL("GRANT {} TO {} WITH {} FALSE").format(
                    sql.Identifier(group), sql.Identifier(member), sql.SQL(option)
                ),
            )
        changed = diff(before, snapshot(pg_database.dsn))
        assert list(changed) == ["memberships"]
        assert [row[2:5] for row in changed["memberships"]["new"]] == [(False, False, False)]
    finally:
        execute(
            pg_database.dsn,
            sql.SQL("DROP ROLE {}, {}").format(sql.Identifier(member), sql.Identifier(group)),
        )


def test_each_step_up_and_down_restores_the_catalog(pg_database: PgDatabase) -> None:
    roles = unique_roles()
    execute(pg_database.dsn, "CREATE TABLE public.users (id int)")
    x = {"audit_tables": "public.users:SELECT", **roles}
    for previous, revision in itertools.pairwise(REVISIONS):
        before = snapshot(pg_database.dsn)
        migrate.upgrade(pg_database.url, revision, **x)
        migrate.downgrade(pg_database.url, previous, **x)
        assert diff(before, snapshot(pg_database.dsn)) == {}, revision
        migrate.upgrade(pg_database.url, revision, **x)
    migrate.downgrade(pg_database.url, "base", **x)
    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT to_regnamespace('hardening')").fetchone() == (None,)


def test_the_kits_own_tables_ignore_default_privileges_granted_before(
    pg_database: PgDatabase,
) -> None:
    # ALTER DEFAULT PRIVILEGES of the migrating role would otherwise let others write the
    # records a superuser's downgrade replays, or read the password history.
    roles = unique_roles()
    snoop = f"snoop_{uuid.uuid4().hex[:8]}"
    execute(
        pg_database.dsn,
        sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(snoop)),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO {}, PUBLIC").format(
            sql.Identifier(snoop)
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO {}").format(
            sql.Identifier(snoop)
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT ALL ON SCHEMAS TO {}").format(
            sql.Identifier(snoop)
        ),
    )
    try:
        before = snapshot(pg_database.dsn)
        migrate.upgrade(pg_database.url, "head", **roles)
        with psycopg.connect(pg_database.dsn) as conn:
            grantees = conn.execute(
                "SELECT DISTINCT coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC') "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
                "aclexplode(c.relacl) a WHERE n.nspname = 'hardening' AND a.grantee <> c.relowner "
                "UNION SELECT coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC') "
                "FROM pg_namespace n, aclexplode(n.nspacl) a "
                "WHERE n.nspname = 'hardening' AND a.grantee <> n.nspowner"
            ).fetchall()
        assert sorted(grantees) == sorted(
            [(roles["audit_reader_role"],), (roles["password_admin_role"],)]
        )
        migrate.downgrade(pg_database.url, "base", **roles)
        assert diff(before, snapshot(pg_database.dsn)) == {}
    finally:
        execute(
            pg_database.dsn,
            sql.SQL("DROP OWNED BY {}").format(sql.Identifier(snoop)),
            sql.SQL("DROP ROLE {}").format(sql.Identifier(snoop)),
        )


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


def test_existing_extensions_and_roles_are_adopted_and_kept(pg_database: PgDatabase) -> None:
    roles = unique_roles()
    execute(
        pg_database.dsn,
        # pgcrypto in a schema other than pgcrypto_schema, and a hardening schema of the user's
        "CREATE SCHEMA crypto",
        "CREATE EXTENSION pgcrypto SCHEMA crypto",
        "CREATE SCHEMA hardening",
        "CREATE FUNCTION hardening.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(roles["audit_role"])),
    )
    before = snapshot(pg_database.dsn)
    migrate.upgrade(pg_database.url, "head", **roles)
    migrate.downgrade(pg_database.url, "base", **roles)
    after = snapshot(pg_database.dsn)
    assert diff(before, after) == {}
    assert [e[0::2] for e in after["extensions"] if e[0] == "pgcrypto"] == [("pgcrypto", "crypto")]
    assert [f[:2] for f in after["functions"] if f[0] == "hardening"] == [("hardening", "mine")]
    assert any(r[0] == roles["audit_role"] for r in after["roles"])
    execute(pg_database.dsn, sql.SQL("DROP ROLE {}").format(sql.Identifier(roles["audit_role"])))


def role_comments(dsn: str, roles: list[str]) -> dict[str, str | None]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
            "WHERE rolname = ANY(%s)",
            (roles,),
        ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("order", ["same order", "reverse order"])
def test_kit_roles_shared_by_two_databases_are_dropped_by_the_last_downgrade(
    pg_server: PgServer, order: str
) -> None:
    # Roles are cluster-wide: the second database's upgrade adopts the roles the first one's
    # created. The first downgrade keeps them (and the membership the other database relies
    # on) and says so; the last one drops them. A role that existed before is kept as it was.
    roles = unique_roles()
    mine = roles["audit_role"]
    execute(
        pg_server.dsn,
        sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(mine)),
        sql.SQL("COMMENT ON ROLE {} IS 'the DBA''s own'").format(sql.Identifier(mine)),
    )
    x = [arg for name, value in roles.items() for arg in ("-x", f"{name}={value}")]
    try:
        with pg_server.database() as first, pg_server.database() as second:
            dsns = [libpq_dsn(first), libpq_dsn(second)]
            before = snapshot(pg_server.dsn)  # roles, memberships and role settings included
            for dsn in dsns:
                proc = alembic_cli(*x, "upgrade", "head", dsn=dsn)
                assert proc.returncode == 0, proc.stderr
            if order == "reverse order":
                dsns.reverse()
            proc = alembic_cli(*x, "downgrade", "base", dsn=dsns[0])
            assert proc.returncode == 0, proc.stderr
            with psycopg.connect(dsns[1]) as conn:  # still hardened: its reader works
                assert conn.execute(
                    "SELECT pg_has_role(%s, 'pg_read_all_settings', 'USAGE')",
                    (roles["audit_reader_role"],),
                ).fetchone() == (True,)
            kept = [line for line in proc.stderr.splitlines() if "kept role" in line]
            assert len(kept) == len(roles) - 1, proc.stderr  # all but the DBA's own
            other = psycopg.conninfo.conninfo_to_dict(dsns[1])["dbname"]
            assert all(
                line.startswith("server NOTICE: pg-hardening: kept role ")
                and f"because database {other} still uses it" in line
                for line in kept
            ), kept
            proc = alembic_cli(*x, "downgrade", "base", dsn=dsns[1])
            assert proc.returncode == 0, proc.stderr
            assert "kept role" not in proc.stderr
            assert diff(before, snapshot(pg_server.dsn)) == {}
            assert role_comments(pg_server.dsn, list(roles.values())) == {mine: "the DBA's own"}
    finally:
        execute(pg_server.dsn, sql.SQL("DROP ROLE {}").format(sql.Identifier(mine)))


def test_a_kit_role_that_can_log_in_is_refused(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    user = login_role()
    before = snapshot(pg_database.dsn)
    with pytest.raises(SystemExit) as exc:
        migrate.upgrade(pg_database.url, "head", **{**unique_roles(), "audit_role": user})
    assert f"role {user} exists and can log in" in exit_message(exc)
    assert "NOLOGIN" in exit_message(exc)
    assert diff(before, snapshot(pg_database.dsn)) == {}


@pytest.mark.parametrize("how", ["NOINHERIT role", "grant WITH INHERIT FALSE"])
def test_an_adopted_reader_that_would_not_inherit_its_privileges_is_refused(
    pg_database: PgDatabase, pg_server: PgServer, how: str
) -> None:
    # The kit grants pg_read_all_settings to the audit reader for its privileges. A reader that
    # exists already but would not inherit them is refused, not adopted half-working.
    roles = unique_roles()
    reader = roles["audit_reader_role"]
    if how == "NOINHERIT role":
        setup = [sql.SQL("CREATE ROLE {} NOLOGIN NOINHERIT").format(sql.Identifier(reader))]
    elif pg_server.version < 16:
        pytest.skip("GRANT ... WITH INHERIT FALSE exists from PostgreSQL 16")
    else:
        setup = [
            sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(reader)),
            sql.SQL("GRANT pg_read_all_settings TO {} WITH INHERIT FALSE").format(
                sql.Identifier(reader)
            ),
        ]
    execute(pg_database.dsn, *setup)
    try:
        before = snapshot(pg_database.dsn)
        with pytest.raises(SystemExit) as exc:
            migrate.upgrade(pg_database.url, "head", **roles)
        message = exit_message(exc)
        assert (
            f"step h006_audit_roles needs role {reader} to inherit the privileges of "
            "pg_read_all_settings, and it does not"
        ) in message
        assert "ALTER ROLE" in message
        assert diff(before, snapshot(pg_database.dsn)) == {}
    finally:
        execute(pg_database.dsn, sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))


# --- preflights: nothing changes when a step cannot run ----------------------------------------


def test_without_pgaudit_preloaded_upgrade_fails_with_the_fix_and_changes_nothing(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    plain = pg_server_factory({"shared_preload_libraries": ""})
    with plain.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        proc = alembic_cli("upgrade", "head", dsn=dsn)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
        assert len(errors) == 1, proc.stderr
        assert errors[0].startswith("alembic: pg-hardening: step h005_pgaudit needs pgaudit")
        for fix in (
            "shared_preload_libraries = 'pgaudit'",
            "-c shared_preload_libraries=pgaudit",
            "parameter group",
            "cloudsql.enable_pgaudit",
            "azure.extensions",
        ):
            assert fix in proc.stderr
        assert diff(before, snapshot(dsn)) == {}
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT to_regclass('hardening_version')").fetchone() == (None,)


def test_a_non_superuser_owner_with_createrole_applies_up_to_least_privilege(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    owner = login_role("CREATEROLE")
    give_database(pg_database, owner)
    as_owner = pg_database.url.set(username=owner, password=owner)
    roles = unique_roles()
    before = snapshot(pg_database.dsn)
    with pytest.raises(SystemExit) as exc:
        migrate.upgrade(as_owner, "head", **roles)
    message = exit_message(exc)
    assert (
        "step h005_pgaudit needs SUPERUSER or the SET privilege on parameters pgaudit.log, "
        "pgaudit.log_catalog, pgaudit.log_parameter, pgaudit.log_relation, "
        "pgaudit.log_statement_once, pgaudit.log_level, pgaudit.log_client, "
        f"and role {owner} has neither"
    ) in message
    assert "GRANT SET ON PARAMETER pgaudit.log, " in message  # the fix, in the hint
    assert diff(before, snapshot(pg_database.dsn)) == {}
    migrate.upgrade(as_owner, "h004_least_privilege", **roles)
    assert db_settings(pg_database.dsn)["password_encryption"] == "scram-sha-256"
    migrate.downgrade(as_owner, "base", **roles)
    assert diff(before, snapshot(pg_database.dsn)) == {}


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


def test_a_prepared_non_superuser_owner_reaches_head_audits_writes_and_downgrades_exactly(
    pg_database: PgDatabase, login_role: Callable[..., str], pg_log: LogCursor
) -> None:
    # The way of managed services (RDS, Cloud SQL, Azure), whose admin roles are no superusers:
    # pgaudit created beforehand, SET granted on the superuser-only parameters.
    owner = login_role("CREATEROLE")
    prepare_owner(pg_database, owner)
    as_owner = pg_database.url.set(username=owner, password=owner)
    owner_dsn = libpq_dsn(as_owner)
    execute(owner_dsn, "CREATE TABLE public.users (id int, email text)")
    before = snapshot(pg_database.dsn)
    roles = unique_roles()
    migrate.upgrade(as_owner, "head", audit_tables="public.users:SELECT", **roles)
    assert version_num(pg_database.dsn) == [(REVISIONS[-1],)]
    settings = db_settings(pg_database.dsn)
    assert settings["pgaudit.log"] == "ddl, role, write"
    assert settings["pgaudit.role"] == roles["audit_role"]
    assert settings["log_parameter_max_length"] == "0"
    execute(
        owner_dsn,
        "CREATE TABLE public.audit_canary (id int)",
        "INSERT INTO public.audit_canary VALUES (1)",
        "SELECT * FROM public.users",
    )
    assert pg_log.wait_for(r"AUDIT: SESSION,\d+,\d+,WRITE,INSERT,TABLE,public\.audit_canary")
    assert pg_log.wait_for(r"AUDIT: OBJECT,\d+,\d+,READ,SELECT,TABLE,public\.users")
    execute(owner_dsn, "DROP TABLE public.audit_canary")
    migrate.downgrade(as_owner, "base", **roles)
    assert diff(before, snapshot(pg_database.dsn)) == {}


@pytest.mark.parametrize(
    ("leave_out", "expected"),
    [
        (
            "extension",
            "step h005_pgaudit needs extension pgaudit, and role {owner} may not create it",
        ),
        (
            "pgaudit.role",
            "step h006_audit_roles needs SUPERUSER or the SET privilege on parameters "
            "pgaudit.role, and role {owner} has neither",
        ),
        (
            "log_parameter_max_length",
            "step h007_log_hygiene needs SUPERUSER or the SET privilege on parameters "
            "log_parameter_max_length, and role {owner} has neither",
        ),
        (
            "admin option",
            "step h006_audit_roles grants role pg_read_all_settings and needs SUPERUSER or "
            "ADMIN OPTION on it",
        ),
        (
            "table ownership",
            "step h006_audit_roles could not grant SELECT on TABLE public.users to {auditor}: "
            "role {owner} neither owns it nor holds SELECT on it WITH GRANT OPTION",
        ),
    ],
)
def test_each_missing_piece_of_a_non_superusers_preparation_is_named_before_anything_changes(
    pg_database: PgDatabase, login_role: Callable[..., str], leave_out: str, expected: str
) -> None:
    if leave_out == "admin option" and pg_database.server.version < 16:
        pytest.skip("on PostgreSQL 15, CREATEROLE may grant pg_read_all_settings without it")
    owner = login_role("CREATEROLE")
    prepare_owner(pg_database, owner, leave_out=leave_out)
    as_owner = pg_database.url.set(username=owner, password=owner)
    table_owner = pg_database.dsn if leave_out == "table ownership" else libpq_dsn(as_owner)
    execute(table_owner, "CREATE TABLE public.users (id int)")
    before = snapshot(pg_database.dsn)
    roles = unique_roles()
    with pytest.raises(SystemExit) as exc:
        migrate.upgrade(as_owner, "head", audit_tables="public.users:SELECT", **roles)
    message = exit_message(exc)
    assert expected.format(owner=owner, auditor=roles["audit_role"]) in message
    fix = {
        "extension": "CREATE EXTENSION pgaudit SCHEMA public",
        "pgaudit.role": f"GRANT SET ON PARAMETER pgaudit.role TO {owner}",
        "log_parameter_max_length": f"GRANT SET ON PARAMETER log_parameter_max_length TO {owner}",
        "admin option": f"GRANT pg_read_all_settings TO {owner} WITH ADMIN OPTION",
        "table ownership": f"GRANT SELECT ON TABLE public.users TO {owner} WITH GRANT OPTION",
    }[leave_out]
    assert fix in message
    assert diff(before, snapshot(pg_database.dsn)) == {}
    assert version_num(pg_database.dsn) is None
    execute(pg_database.dsn, fix)  # the fix the message names is enough
    fixed = snapshot(pg_database.dsn)
    migrate.upgrade(as_owner, "head", audit_tables="public.users:SELECT", **roles)
    migrate.downgrade(as_owner, "base", **roles)
    assert diff(fixed, snapshot(pg_database.dsn)) == {}


def test_a_role_that_may_only_connect_is_told_which_privilege_the_version_table_needs(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    # Alembic creates hardening_version before any step runs: without CREATE on the schema the
    # server's bare "permission denied for schema public" came first. Now one line names it.
    user = login_role()
    before = snapshot(pg_database.dsn)
    dsn = libpq_dsn(pg_database.url.set(username=user, password=user))
    proc = alembic_cli("upgrade", "head", dsn=dsn)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "permission denied" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
    assert errors == [
        f"alembic: pg-hardening: role {user} needs the CREATE privilege on schema public for "
        "alembic's version table hardening_version (step h001_state then needs CREATE on "
        f"database {pg_database.name}): run the upgrade as the database owner, or as the "
        f"schema's owner: GRANT CREATE ON SCHEMA public TO {user}"
    ], proc.stderr
    assert diff(before, snapshot(pg_database.dsn)) == {}
    assert version_num(pg_database.dsn) is None


@pytest.mark.parametrize(
    ("password_admin_exists", "stopped_at"),
    [(False, "h003_password_policy"), (True, "h004_least_privilege")],
)
def test_an_owner_without_createrole_is_stopped_before_anything_changes(
    pg_database: PgDatabase,
    login_role: Callable[..., str],
    password_admin_exists: bool,
    stopped_at: str,
) -> None:
    # h003 creates the password-admin role (adopted if it exists), h004 the group roles
    owner = login_role()
    give_database(pg_database, owner)
    roles = unique_roles()
    admin = sql.Identifier(roles["password_admin_role"])
    if password_admin_exists:
        execute(pg_database.dsn, sql.SQL("CREATE ROLE {} NOLOGIN").format(admin))
    try:
        before = snapshot(pg_database.dsn)
        with pytest.raises(SystemExit) as exc:
            migrate.upgrade(
                pg_database.url.set(username=owner, password=owner),
                "h004_least_privilege",
                **roles,
            )
        assert f"step {stopped_at} needs CREATEROLE and role {owner} lacks it" in (
            exit_message(exc)
        )
        assert diff(before, snapshot(pg_database.dsn)) == {}
    finally:
        execute(pg_database.dsn, sql.SQL("DROP ROLE IF EXISTS {}").format(admin))


def test_an_invalid_setting_is_named_before_anything_changes(pg_database: PgDatabase) -> None:
    before = snapshot(pg_database.dsn)
    with pytest.raises(SystemExit) as exc:
        migrate.upgrade(pg_database.url, "head", audit_log="ddl, everything", **unique_roles())
    assert "setting audit_log" in exit_message(exc)
    assert diff(before, snapshot(pg_database.dsn)) == {}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("readonly_role", "audit_reader_role"),
        ("audit_role", "readonly_role"),
        ("password_admin_role", "audit_role"),
        ("table_owner_role", "readwrite_role"),
    ],
)
def test_two_role_settings_naming_one_role_are_refused_before_anything_changes(
    pg_database: PgDatabase, first: str, second: str
) -> None:
    # One role for both would hold the privileges of both: the "read-only" role or the audit
    # reader could write every future table, every read of the read-only role be audited.
    roles = unique_roles()
    shared = roles.get(second) or roles[first]
    line, _ = refused_upgrade(pg_database, {**roles, first: shared, second: shared})
    assert f"settings {first} and {second} both name role {shared}" in line or (
        f"settings {second} and {first} both name role {shared}" in line
    ), line


@pytest.mark.parametrize(
    ("name", "value", "expected", "fix"),
    [
        (
            "table_owner_role",
            "nosuch",
            "setting table_owner_role names role nosuch, which does not exist",
            "pass -x table_owner_role=... naming the role that creates the application's tables",
        ),
        (
            "app_schema",
            "nosuch",
            "setting app_schema names schema nosuch, which does not exist",
            "create it first, or pass -x app_schema=...",
        ),
    ],
)
def test_a_setting_naming_a_missing_role_or_schema_is_named_with_the_fix(
    pg_database: PgDatabase, name: str, value: str, expected: str, fix: str
) -> None:
    line, stderr = refused_upgrade(pg_database, {**unique_roles(), name: value})
    assert expected in line
    assert fix in stderr


@pytest.mark.parametrize("name", ["audit_role", "readonly_role", "password_admin_role"])
def test_a_superuser_or_the_migrating_role_is_never_taken_as_a_kit_role(
    pg_database: PgDatabase, name: str
) -> None:
    # The kit's roles are NOLOGIN: it must neither take the role running it (a superuser
    # here) nor suggest ALTER ROLE ... NOLOGIN, which would lock that role out.
    me = pg_database.url.username
    assert me
    line, stderr = refused_upgrade(pg_database, {**unique_roles(), name: me})
    assert f"setting {name} names role {me}, a superuser or the role running this migration" in line
    assert f"-x {name}=..." in stderr
    assert "ALTER ROLE" not in stderr


# --- pgcrypto's planner costs -----------------------------------------------------------------

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


def decrypting_plan(dsn: str) -> str:
    """EXPLAIN of a decrypting read of a table large enough (to the planner) for parallelism."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET min_parallel_table_scan_size = 0")
        rows = conn.execute(
            "EXPLAIN (VERBOSE, COSTS OFF) SELECT pgp_sym_decrypt(v, 'k') FROM sealed"
        ).fetchall()
    return "\n".join(row[0] for row in rows)


def test_pgcrypto_functions_get_their_real_cost_so_large_decrypting_reads_run_in_parallel(
    pg_database: PgDatabase,
) -> None:
    execute(
        pg_database.dsn,
        "CREATE EXTENSION pgcrypto",
        "CREATE TABLE sealed AS SELECT pgp_sym_encrypt(i::text, 'k', 's2k-mode=1') AS v "
        "FROM generate_series(1, 20000) i",
        "ANALYZE sealed",
    )
    assert pgp_costs(pg_database.dsn) == {1.0}
    assert "Gather" not in decrypting_plan(pg_database.dsn)
    migrate.upgrade(pg_database.url, "h002_pgcrypto")
    assert pgp_costs(pg_database.dsn) == {1000.0}
    plan = decrypting_plan(pg_database.dsn)
    assert "Gather" in plan, plan
    assert "Parallel Seq Scan on public.sealed" in plan, plan
    # The workers decrypt: the call sits below the Gather, in the parallel scan's output.
    assert plan.index("Parallel Seq Scan") < plan.rindex("pgp_sym_decrypt"), plan
    migrate.downgrade(pg_database.url, "base")
    assert pgp_costs(pg_database.dsn) == {1.0}


def test_pgcrypto_owned_by_another_role_keeps_its_costs_and_the_upgrade_goes_on(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    owner = login_role("CREATEROLE")
    execute(
        pg_database.dsn,
        "CREATE EXTENSION pgcrypto",  # by the superuser: the database owner cannot alter it
    )
    give_database(pg_database, owner)
    before = snapshot(pg_database.dsn)
    as_owner = pg_database.url.set(username=owner, password=owner)
    migrate.upgrade(as_owner, "h002_pgcrypto", **unique_roles())
    assert pgp_costs(pg_database.dsn) == {1.0}
    with psycopg.connect(pg_database.dsn) as conn:
        recorded = conn.execute(
            "SELECT count(*) FROM hardening.applied WHERE kind = 'function_cost'"
        ).fetchone()
    assert recorded == (0,)
    migrate.downgrade(as_owner, "base", **unique_roles())
    assert diff(before, snapshot(pg_database.dsn)) == {}


def test_a_non_superuser_owner_is_told_who_owns_pgcryptos_functions_and_how_to_set_their_cost(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    # The owner creates pgcrypto itself (it is trusted), yet its functions belong to the
    # bootstrap superuser: h002 cannot set their cost. The server's NOTICE says so, and alembic
    # never shows NOTICEs: the kit's env.py passes it on, one line naming the owner and the fix.
    owner = login_role("CREATEROLE")
    give_database(pg_database, owner)
    owner_dsn = libpq_dsn(pg_database.url.set(username=owner, password=owner))
    before = snapshot(pg_database.dsn)
    with psycopg.connect(pg_database.dsn) as conn:
        row = conn.execute("SELECT rolname FROM pg_roles WHERE oid = 10").fetchone()
    assert row is not None
    bootstrap = row[0]
    proc = alembic_cli("upgrade", "h002_pgcrypto", dsn=owner_dsn)
    assert proc.returncode == 0, proc.stderr
    assert pgp_costs(pg_database.dsn) == {1.0}
    lines = [line for line in proc.stderr.splitlines() if line.startswith("server NOTICE:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "server NOTICE: pg-hardening: step h002_pgcrypto left the planner cost of 8 pgcrypto "
        f"functions at 1 (not 1000): they belong to role {bootstrap}, and role {owner} may not "
        "alter them; hint: as "
    ), lines[0]
    fix = re.findall(r"ALTER FUNCTION [^;]+ COST 1000", lines[0])
    assert len(fix) == 8, lines[0]
    assert "ALTER FUNCTION public.pgp_sym_decrypt(bytea, text) COST 1000" in fix
    execute(pg_database.dsn, *fix)  # as the superuser: the fix it names is enough
    assert pgp_costs(pg_database.dsn) == {1000.0}
    execute(pg_database.dsn, *(f.replace("COST 1000", "COST 1") for f in fix))
    proc = alembic_cli("downgrade", "base", dsn=owner_dsn)
    assert proc.returncode == 0, proc.stderr
    assert "server " not in proc.stderr  # nothing else to report
    assert diff(before, snapshot(pg_database.dsn)) == {}


# Devanagari, fullwidth and Arabic-Indic digits: int() reads them, PostgreSQL would not.
@pytest.mark.parametrize("value", ["0", "cheap", "-5", "\u0967\u0968", "\uff11\uff12", "\u0663"])
def test_an_invalid_pgcrypto_function_cost_is_named_before_anything_changes(
    pg_database: PgDatabase, value: str
) -> None:
    before = snapshot(pg_database.dsn)
    with pytest.raises(SystemExit) as exc:
        migrate.upgrade(pg_database.url, "head", pgcrypto_function_cost=value, **unique_roles())
    assert f"setting pgcrypto_function_cost is {value!r}" in exit_message(exc)
    assert diff(before, snapshot(pg_database.dsn)) == {}


# --- concurrency and quoting ------------------------------------------------------------------


def test_concurrent_upgrades_one_applies_the_others_wait_and_find_nothing_to_do(
    pg_database: PgDatabase,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDENING_")}
    env["DATABASE_URL"] = pg_database.dsn
    for name, value in unique_roles().items():
        env[f"HARDENING_{name.upper()}"] = value
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    assert [rc for rc, _ in results] == [0, 0, 0], results
    applied = [err for _, err in results if "Running upgrade h000_base -> h001_state" in err]
    assert len(applied) == 1, results
    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT version_num FROM hardening_version").fetchall() == [
            (REVISIONS[-1],)
        ]


HOSTILE = "we\"ird'; DROP ROLE postgres; --"


def test_hostile_role_and_schema_names_are_quoted(pg_database: PgDatabase) -> None:
    # Every name-valued setting: the kit's roles, table_owner_role, app_schema, audit_tables
    # (schema and table; `;`, `.` and `:` are its separators) and pgcrypto_schema (below).
    suffix = uuid.uuid4().hex[:6]
    roles = {name: f"{HOSTILE} {name} {suffix}" for name in ROLE_SETTINGS}
    assert len(set(roles.values())) == len(ROLE_SETTINGS)  # five roles, not one under two names
    owner = f"{HOSTILE} owner{suffix}"
    schema = f'app "{suffix}"; DROP SCHEMA public; x'
    audited = f'au\'dit "{suffix}" --'
    table = 'us\'ers, "t"'
    execute(
        pg_database.dsn,
        sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)),
        sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)),
        sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(audited)),
        sql.SQL("CREATE TABLE public.{} (id int)").format(sql.Identifier(table)),
        sql.SQL("CREATE TABLE {}.{} (id int)").format(
            sql.Identifier(audited), sql.Identifier(table)
        ),
    )
    before = snapshot(pg_database.dsn)
    x = {
        **roles,
        "table_owner_role": owner,
        "app_schema": schema,
        "audit_tables": f"public.{table}:SELECT;{audited}.{table}:SELECT,UPDATE",
    }
    migrate.upgrade(pg_database.url, "head", **x)
    hardened = snapshot(pg_database.dsn)
    with psycopg.connect(pg_database.dsn) as conn:
        found = {
            r[0]
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND NOT rolcanlogin",
                (list(roles.values()),),
            )
        }
        superuser = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'").fetchone()
    assert found == set(roles.values())
    assert superuser == (1,)
    assert db_settings(pg_database.dsn)["pgaudit.role"] == roles["audit_role"]
    assert {
        (row[0], row[1], row[4])
        for row in hardened["relation_acls"]
        if row[3] == roles["audit_role"]
    } == {("public", table, "SELECT"), (audited, table, "SELECT"), (audited, table, "UPDATE")}
    assert {
        (row[1], row[2], row[4], row[5])
        for row in hardened["default_acls"]
        if row[0] == owner and row[4] == roles["readonly_role"]
    } == {(schema, "r", roles["readonly_role"], "SELECT")}
    migrate.downgrade(pg_database.url, "base", **x)
    assert diff(before, snapshot(pg_database.dsn)) == {}
    execute(pg_database.dsn, sql.SQL("DROP ROLE {}").format(sql.Identifier(owner)))


def test_a_hostile_pgcrypto_schema_name_is_quoted(pg_database: PgDatabase) -> None:
    # The name reaches CREATE EXTENSION ... SCHEMA, and the function signatures the cost
    # records keep for the downgrade (parsed back with to_regprocedure: `.`, `(` and `"`).
    schema = f'cry\'pto.x("{uuid.uuid4().hex[:6]}"); CREATE TABLE public.injected (); --'
    roles = unique_roles()
    execute(pg_database.dsn, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    before = snapshot(pg_database.dsn)
    migrate.upgrade(pg_database.url, "head", pgcrypto_schema=schema, **roles)
    hardened = snapshot(pg_database.dsn)
    assert [e[0::2] for e in hardened["extensions"] if e[0] == "pgcrypto"] == [("pgcrypto", schema)]
    assert pgp_costs(pg_database.dsn) == {1000.0}
    assert not [r for r in hardened["relations"] if r[1] == "injected"]
    with psycopg.connect(pg_database.dsn) as conn:
        decrypted = conn.execute(
            sql.SQL("SELECT {0}.pgp_sym_decrypt({0}.pgp_sym_encrypt('x', 'k'), 'k')").format(
                sql.Identifier(schema)
            )
        ).fetchone()
    assert decrypted == ("x",)
    migrate.downgrade(pg_database.url, "base", pgcrypto_schema=schema, **roles)
    assert diff(before, snapshot(pg_database.dsn)) == {}


# --- server profile (ALTER SYSTEM) -------------------------------------------------------------


def test_server_profile_sets_logging_and_tls_and_downgrade_restores_prior_values(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # ALTER SYSTEM is cluster-wide: a server of this test's own.
    server = pg_server_factory({"log_min_messages": "warning"})
    execute(server.dsn, "ALTER SYSTEM SET log_statement = 'mod'", "SELECT pg_reload_conf()")
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        migrate.upgrade(url, "h007_log_hygiene", **unique_roles())
        migrate.upgrade(url, "head", server_profile="on")
        with psycopg.connect(dsn) as conn:
            shown = {
                name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                for name in ("log_connections", "log_statement", "ssl_min_protocol_version")
            }
            prefix = conn.execute("SHOW log_line_prefix").fetchone()
        assert shown == {
            "log_connections": ("on",),
            "log_statement": ("ddl",),
            "ssl_min_protocol_version": ("TLSv1.3",),
        }
        assert prefix is not None
        assert all(escape in prefix[0] for escape in ("%m", "%p", "%d", "%u", "%a", "%h"))
        migrate.downgrade(url, "base", server_profile="on")
        assert diff(before, snapshot(dsn)) == {}
        assert ("log_statement", "mod") in before["system_settings"]


def test_profile_values_verify_passes_are_applied_as_the_server_spells_them(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    from hardening.verify import run

    server = pg_server_factory({"cluster_name": "profile_verified"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        migrate.upgrade(
            url,
            "head",
            server_profile="on",
            server_ssl_min_protocol_version="tlsv1.2",
            server_log_statement="MOD",
            **unique_roles(),
        )
        for _ in range(50):  # pg_reload_conf() signals the postmaster: wait for new sessions
            report = run(url, only=["ssl_min_protocol_version", "log_statement"])
            statuses = sorted((r.control.id, str(r.status)) for r in report.results)
            if statuses == [("log_statement", "pass"), ("ssl_min_protocol_version", "pass")]:
                break
            time.sleep(0.1)
        assert statuses == [("log_statement", "pass"), ("ssl_min_protocol_version", "pass")], [
            r.detail for r in report.results
        ]
        migrate.downgrade(url, "base")
        assert diff(before, snapshot(dsn)) == {}


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


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "server_ssl_min_protocol_version",
            "TLSv9",
            "ssl_min_protocol_version expects one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3",
        ),
        ("server_log_statement", "verbose", "log_statement expects one of none, ddl, mod, all"),
        # Values the server takes but `hardening verify` fails: refused with verify's reason.
        (
            "server_ssl_min_protocol_version",
            "TLSv1",
            "the verify control ssl_min_protocol_version requires that ssl_min_protocol_version "
            "is TLSv1.2 or later: TLS 1.0 and 1.1 are deprecated",
        ),
        (
            "server_ssl_min_protocol_version",
            "tlsv1.1",
            "requires that ssl_min_protocol_version is TLSv1.2 or later",
        ),
        (
            "server_log_statement",
            "none",
            "the verify control log_statement requires that log_statement records at least DDL",
        ),
        (
            "server_log_line_prefix",
            "%m [%p] %%u ",
            "missing: user (%u), database (%d), client address (%h or %r)",
        ),
        ("server_log_line_prefix", "%m [%p] %u@%d %h\nforged line ", "must be one line"),
    ],
)
def test_an_invalid_server_profile_value_is_named_and_nothing_changes(
    pg_server_factory: Callable[[dict[str, str]], PgServer], name: str, value: str, expected: str
) -> None:
    # ALTER SYSTEM runs one setting at a time outside the transaction: every value must be
    # checked before the run commits, or a refused one leaves the others applied.
    server = pg_server_factory({"cluster_name": "profile_refusals"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)  # includes postgresql.auto.conf
        proc = alembic_cli(
            "-x", "server_profile=on", "-x", f"{name}={value}", "upgrade", "head", dsn=dsn
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
        assert len(errors) == 1, proc.stderr
        assert f"setting {name}" in errors[0]
        assert expected in errors[0]
        assert diff(before, snapshot(dsn)) == {}
        assert version_num(dsn) is None


@pytest.mark.parametrize(
    "prefix",
    [
        "%m [%p] %q%u@%d app=%a client=%h ",  # the default
        "%m [%p]: user=%u,db=%d,app=%a,client=%h ",  # verify's fix text
        "%t %c %u %d %r ",
        "%n-%-10p %10u %d %h ",
        "%m [%p] ",
        "%m [%p] %u@%d ",
        "%u %d %h ",
        "%m [%p] %%u@%d %h ",  # %% is a literal percent sign: no user
        "100%% %m [%p] %u@%d %%%h ",
        "",
    ],
)
def test_the_profile_refuses_exactly_the_log_line_prefixes_verify_fails(
    pg_database: PgDatabase, prefix: str
) -> None:
    # A prefix the server profile sets must pass `hardening verify`, and one it refuses must
    # fail there: sql/checks/log_line_prefix.sql judges the server's own log_line_prefix, here
    # it judges `prefix` instead.
    with psycopg.connect(pg_database.dsn) as conn:
        check = sqlfiles.load("checks/log_line_prefix.sql").replace(
            "current_setting('log_line_prefix')", sql.Literal(prefix).as_string(conn)
        )
        row = conn.execute(check).fetchone()
    assert row is not None
    assert row[0] == (not server_profile.log_line_prefix_missing(prefix)), row[1]


def test_server_profile_values_with_quotes_are_rendered_safely(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "profile_quotes"})
    prior = "it's %m [%p] %u %d %h \\ "
    execute(
        server.dsn,
        sql.SQL("ALTER SYSTEM SET log_line_prefix = {}").format(sql.Literal(prior)),
        "SELECT pg_reload_conf()",
    )
    prefix = "%m [%p] %q%u@%d app=%a client=%h 'x'; SELECT 1; -- \"d\" \\ "
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        assert ("log_line_prefix", prior) in before["system_settings"]
        migrate.upgrade(url, "head", server_profile="on", server_log_line_prefix=prefix)
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW log_line_prefix").fetchone() == (prefix,)
        assert ("log_line_prefix", prefix) in snapshot(dsn)["system_settings"]
        migrate.downgrade(url, "base")
        assert diff(before, snapshot(dsn)) == {}
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW log_line_prefix").fetchone() == (prior,)


def test_an_alter_system_failing_midway_leaves_nothing_of_the_profile(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # Everything the kit can check passes; the server then fails to write postgresql.auto.conf
    # (its temporary file's name is taken by a directory). The run was committed up to h007
    # before ALTER SYSTEM: the profile's changes are put back and its records removed, so the
    # database is at h007 exactly as before, and can go down, or up once the cause is gone.
    server = pg_server_factory({"cluster_name": "profile_midway"})
    with psycopg.connect(server.dsn) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    blocker = f"{row[0]}/postgresql.auto.conf.tmp"
    roles = unique_roles()
    with server.database() as url:
        dsn = libpq_dsn(url)
        base = snapshot(dsn)
        migrate.upgrade(url, "h007_log_hygiene", **roles)
        at_h007 = snapshot(dsn)
        # the program reads the row first: one that exits before the server has written it
        # makes COPY fail with "could not close pipe to external command: Broken pipe"
        copy = "COPY (SELECT 1) TO PROGRAM {}"
        execute(dsn, sql.SQL(copy).format(sql.Literal(f"cat >/dev/null; mkdir '{blocker}'")))
        try:
            with pytest.raises(SystemExit) as exc:
                migrate.upgrade(url, "head", server_profile="on")
        finally:
            execute(dsn, sql.SQL(copy).format(sql.Literal(f"cat >/dev/null; rmdir '{blocker}'")))
        message = exit_message(exc)
        assert "step h008_server_profile stopped at ALTER SYSTEM SET log_connections" in message
        assert "postgresql.auto.conf.tmp" in message  # the server's reason
        assert diff(at_h007, snapshot(dsn)) == {}
        assert version_num(dsn) == [("h007_log_hygiene",)]
        with psycopg.connect(dsn) as conn:
            assert conn.execute(
                "SELECT count(*) FROM hardening.applied WHERE step = 'h008_server_profile'"
            ).fetchone() == (0,)
        migrate.upgrade(url, "head", server_profile="on")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW log_connections").fetchone() == ("on",)
        migrate.downgrade(url, "base", **roles)
        assert diff(base, snapshot(dsn)) == {}


def test_server_profile_asked_for_at_head_is_not_ignored_and_the_documented_sequence_applies_it(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # Alembic never runs an applied step again: at head, server_profile=on (or off) cannot be
    # followed by `upgrade head` alone. The run says so, with the sequence docs/migrations.md
    # gives, and that sequence sets (and removes) the profile.
    server = pg_server_factory({"cluster_name": "profile_late"})

    def shown(dsn: str) -> dict[str, str]:
        values = {}
        with psycopg.connect(dsn) as conn:
            for name in ("log_connections", "log_statement", "ssl_min_protocol_version"):
                row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                assert row is not None
                values[name] = str(row[0])
        return values

    def refused(proc: subprocess.CompletedProcess[str]) -> str:
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
        assert len(errors) == 1, proc.stderr
        return errors[0]

    with server.database() as url:
        dsn = libpq_dsn(url)
        base = snapshot(dsn)
        migrate.upgrade(url, "head", **unique_roles())
        plain, plain_shown = snapshot(dsn), shown(dsn)
        assert plain_shown["log_statement"] == "none"

        error = refused(alembic_cli("-x", "server_profile=on", "upgrade", "head", dsn=dsn))
        assert "server_profile=on, but step h008_server_profile was applied earlier" in error
        assert (
            "To set it: alembic downgrade h007_log_hygiene, then "
            "alembic -x server_profile=on upgrade head"
        ) in error
        assert diff(plain, snapshot(dsn)) == {}

        for args in printed_commands(error.split("To set it: ", 1)[1]):  # run as printed
            proc = alembic_cli(*args, dsn=dsn)
            assert proc.returncode == 0, proc.stderr
        assert shown(dsn) == {
            "log_connections": "on",
            "log_statement": "ddl",
            "ssl_min_protocol_version": "TLSv1.3",
        }
        profiled = snapshot(dsn)
        proc = alembic_cli("upgrade", "head", dsn=dsn)  # the default (off) is no request
        assert proc.returncode == 0, proc.stderr

        error = refused(alembic_cli("-x", "server_profile=off", "upgrade", "head", dsn=dsn))
        assert (
            "To remove it: alembic downgrade h007_log_hygiene, then "
            "alembic -x server_profile=off upgrade head"
        ) in error
        assert diff(profiled, snapshot(dsn)) == {}
        for args in printed_commands(error.split("To remove it: ", 1)[1]):
            proc = alembic_cli(*args, dsn=dsn)
            assert proc.returncode == 0, proc.stderr
        assert diff(plain, snapshot(dsn)) == {}
        assert shown(dsn) == plain_shown
        migrate.downgrade(url, "base")
        assert diff(base, snapshot(dsn)) == {}


def test_server_profile_is_refused_without_superuser(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    owner = login_role("CREATEROLE")
    give_database(pg_database, owner)
    before = snapshot(pg_database.dsn)
    as_owner = pg_database.url.set(username=owner, password=owner)
    migrate.upgrade(as_owner, "h004_least_privilege", **unique_roles())
    with pytest.raises(SystemExit) as exc:
        migrate.upgrade(as_owner, "head", server_profile="on")
    assert "needs SUPERUSER" in exit_message(exc)
    migrate.downgrade(as_owner, "base")
    assert diff(before, snapshot(pg_database.dsn)) == {}


def test_server_profile_is_refused_where_allow_alter_system_is_off(
    pg_server: PgServer, pg_server_factory: Callable[[dict[str, str]], PgServer]
) -> None:
    if pg_server.version < 17:
        pytest.skip(
            f"allow_alter_system exists from PostgreSQL 17 (this is {pg_server.version}): "
            "ALTER SYSTEM cannot be turned off, and the server profile tests above cover the "
            "check passing"
        )
    server = pg_server_factory({"allow_alter_system": "off"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        with pytest.raises(SystemExit) as exc:
            migrate.upgrade(url, "head", server_profile="on", **unique_roles())
        message = exit_message(exc)
        assert "step h008_server_profile uses ALTER SYSTEM" in message
        assert "allow_alter_system = off" in message
        assert "leave server_profile=off" in message  # the hint: what to do instead
        # One transaction up to the check: steps h001-h007 rolled back with it, and no
        # ALTER SYSTEM ran (postgresql.auto.conf is part of the snapshot).
        assert diff(before, snapshot(dsn)) == {}
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT to_regclass('hardening_version')").fetchone() == (None,)
            assert conn.execute("SHOW log_statement").fetchone() == ("none",)
