"""What `alembic upgrade head` leaves behind: the extensions and database settings, the kit's
roles and exactly the privileges they hold, and what pgaudit then logs."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from hardening import migrate
from hardening.settings import libpq_dsn
from hardening.testing import LogCursor
from hardening.testing.plugin import PgDatabase
from tests.migrations.helpers import db_settings
from tests.roles import execute, unique_roles


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
