"""What a database owner that is not a superuser can apply (docs/migrations.md): up to h004 with
CREATEROLE, up to head once a superuser prepared it; each missing piece is named before
anything changes, with the statement that fixes it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from psycopg import sql

from hardening import migrate
from hardening.errors import HardeningError
from hardening.settings import libpq_dsn
from hardening.testing import LogCursor
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import (
    REVISIONS,
    db_settings,
    exit_message,
    give_database,
    prepare_owner,
    version_num,
)
from tests.roles import execute, unique_roles


def test_a_non_superuser_owner_with_createrole_applies_up_to_least_privilege(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    owner = login_role("CREATEROLE")
    give_database(pg_database, owner)
    as_owner = pg_database.url.set(username=owner, password=owner)
    roles = unique_roles()
    before = snapshot(pg_database.dsn)
    with pytest.raises(HardeningError) as exc:
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
            "auto_explain.log_verbose",
            "step h010_auto_explain needs SUPERUSER or the SET privilege on parameters "
            "auto_explain.log_verbose, and role {owner} has neither",
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
    with pytest.raises(HardeningError) as exc:
        migrate.upgrade(as_owner, "head", audit_tables="public.users:SELECT", **roles)
    message = exit_message(exc)
    assert expected.format(owner=owner, auditor=roles["audit_role"]) in message
    fix = {
        "extension": "CREATE EXTENSION pgaudit SCHEMA public",
        "pgaudit.role": f"GRANT SET ON PARAMETER pgaudit.role TO {owner}",
        "log_parameter_max_length": f"GRANT SET ON PARAMETER log_parameter_max_length TO {owner}",
        "auto_explain.log_verbose": f"GRANT SET ON PARAMETER auto_explain.log_verbose TO {owner}",
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
        with pytest.raises(HardeningError) as exc:
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


def test_default_privileges_for_a_role_the_owner_does_not_belong_to_are_refused_with_the_fix(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    owner, tables = login_role("CREATEROLE"), login_role()
    give_database(pg_database, owner)
    as_owner = pg_database.url.set(username=owner, password=owner)
    roles = {**unique_roles(), "table_owner_role": tables}
    before = snapshot(pg_database.dsn)
    with pytest.raises(HardeningError) as exc:
        migrate.upgrade(as_owner, "h004_least_privilege", **roles)
    message = exit_message(exc)
    assert message.startswith(
        f"pg-hardening: step h004_least_privilege sets default privileges for role {tables} and "
        f"role {owner} is not a member of it; hint: GRANT {tables} TO {owner}, or set "
        "table_owner_role to a role you belong to"
    ), message
    assert diff(before, snapshot(pg_database.dsn)) == {}
    execute(pg_database.dsn, message.split("; hint: ", 1)[1].split(", or set ")[0])
    migrate.upgrade(as_owner, "h004_least_privilege", **roles)  # the hint was enough
    migrate.downgrade(as_owner, "base", **roles)
