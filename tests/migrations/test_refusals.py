"""Preflights and refused settings: a step that cannot run, or a setting the kit cannot use,
stops the run with one line naming the object and the fix, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from hardening import migrate
from hardening.errors import HardeningError
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import alembic_cli, exit_message, refused_upgrade, version_num
from tests.roles import unique_roles


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


def test_an_invalid_setting_is_named_before_anything_changes(pg_database: PgDatabase) -> None:
    before = snapshot(pg_database.dsn)
    with pytest.raises(HardeningError) as exc:
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
