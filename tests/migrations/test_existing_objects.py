"""Step h009_existing_objects and the downgrade of h004 around it: what the group roles get on
the objects that exist when the kit comes, what they keep when a step is undone, and the
setting that leaves existing objects to grants of one's own."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from hardening import cli, migrate, steps
from hardening.errors import HardeningError
from hardening.settings import libpq_dsn
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import (
    alembic_cli,
    exit_message,
    prepare_owner,
    version_num,
    x_options,
)
from tests.roles import execute, unique_roles

STEP = steps.named("existing_objects")
OBJECTS = (
    "CREATE TABLE public.items (id serial PRIMARY KEY, name text)",
    "CREATE VIEW public.item_names AS SELECT name FROM public.items",
    "CREATE SEQUENCE public.tickets",
)


def privileges(dsn: str, grantee: str) -> dict[str, set[str]]:
    """What ``grantee`` holds directly on each relation of schema public, by name."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.privilege_type FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            "WHERE n.nspname = 'public' AND a.grantee = "
            "(SELECT oid FROM pg_roles WHERE rolname = %s)",
            (grantee,),
        ).fetchall()
    held: dict[str, set[str]] = {}
    for relation, privilege in rows:
        held.setdefault(relation, set()).add(privilege)
    return held


def test_existing_objects_get_what_the_default_privileges_give_new_ones(
    pg_database: PgDatabase,
) -> None:
    roles = unique_roles()
    execute(pg_database.dsn, *OBJECTS)
    migrate.upgrade(pg_database.url, "head", **roles)
    execute(pg_database.dsn, "CREATE TABLE public.later (id serial)")  # default privileges
    write = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    sequence = {"SELECT", "USAGE"}
    assert privileges(pg_database.dsn, roles["readwrite_role"]) == {
        "items": write,
        "items_id_seq": sequence,
        "item_names": write,
        "tickets": sequence,
        "later": write,
        "later_id_seq": sequence,
    }  # alembic's version table (hardening_version, in public) is left out
    assert privileges(pg_database.dsn, roles["readonly_role"]) == {
        "items": {"SELECT"},
        "item_names": {"SELECT"},
        "later": {"SELECT"},
    }


def test_undoing_it_alone_keeps_what_the_default_privileges_gave(pg_database: PgDatabase) -> None:
    # Downgrading to h008 undoes h009 only: h004's default privileges stay, and so do the grants
    # they gave the tables created since; downgrading h004 revokes those before its roles go.
    roles = unique_roles()
    execute(pg_database.dsn, *OBJECTS)
    before = snapshot(pg_database.dsn)
    migrate.upgrade(pg_database.url, "head", **roles)
    execute(pg_database.dsn, "CREATE TABLE public.later (id serial)")
    with_later = snapshot(pg_database.dsn)
    migrate.downgrade(pg_database.url, STEP.down_revision or "", **roles)
    assert set(privileges(pg_database.dsn, roles["readwrite_role"])) == {"later", "later_id_seq"}
    migrate.upgrade(pg_database.url, "head", **roles)
    assert diff(with_later, snapshot(pg_database.dsn)) == {}
    migrate.downgrade(pg_database.url, "base", **roles)
    execute(pg_database.dsn, "DROP TABLE public.later")
    assert diff(before, snapshot(pg_database.dsn)) == {}


def test_an_adopted_role_keeps_what_it_had(pg_database: PgDatabase) -> None:
    roles = unique_roles()
    reader = sql.Identifier(roles["readonly_role"])
    execute(
        pg_database.dsn,
        *OBJECTS,
        sql.SQL("CREATE ROLE {} NOLOGIN").format(reader),
        sql.SQL("GRANT SELECT ON public.items TO {}").format(reader),
    )
    try:
        before = snapshot(pg_database.dsn)
        migrate.upgrade(pg_database.url, "head", **roles)
        assert privileges(pg_database.dsn, roles["readonly_role"]) == {
            "items": {"SELECT"},
            "item_names": {"SELECT"},
        }
        execute(pg_database.dsn, "CREATE TABLE public.later (id int)")  # default privileges
        migrate.downgrade(pg_database.url, "base", **roles)
        # an adopted role keeps what it had, and what the default privileges gave it since
        assert privileges(pg_database.dsn, roles["readonly_role"]) == {
            "items": {"SELECT"},
            "later": {"SELECT"},
        }
        execute(pg_database.dsn, "DROP TABLE public.later")
        assert diff(before, snapshot(pg_database.dsn)) == {}
    finally:
        execute(
            pg_database.dsn,
            sql.SQL("DROP OWNED BY {}").format(reader),
            sql.SQL("DROP ROLE {}").format(reader),
        )


def test_grant_existing_off_leaves_existing_objects_to_your_own_grants(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    roles = unique_roles()
    execute(pg_database.dsn, *OBJECTS)
    migrate.upgrade(pg_database.url, "head", grant_existing="off", **roles)
    assert privileges(pg_database.dsn, roles["readwrite_role"]) == {}
    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM hardening.applied WHERE step = %s", (STEP.id,)
        ).fetchone() == (0,)
    assert cli.main(["settings"]) == 0
    listed = capsys.readouterr().out
    assert f"grant_existing  (HARDENING_GRANT_EXISTING, default 'on'; read by step {STEP.id})" in (
        listed
    )
    migrate.downgrade(pg_database.url, "base", **roles)


def test_grant_existing_given_again_at_head_is_compared_with_what_the_step_did(
    pg_database: PgDatabase,
) -> None:
    x = x_options(unique_roles())
    execute(pg_database.dsn, *OBJECTS)
    assert alembic_cli(*x, "upgrade", "head", dsn=pg_database.dsn).returncode == 0
    same = alembic_cli(*x, "-x", "grant_existing=on", "upgrade", "head", dsn=pg_database.dsn)
    assert (same.returncode, "pg-hardening:" in same.stderr) == (0, False), same.stderr
    other = alembic_cli(*x, "-x", "grant_existing=off", "upgrade", "head", dsn=pg_database.dsn)
    assert other.returncode == 0, other.stderr
    assert (
        f"pg-hardening: warning: -x grant_existing=off took no effect: alembic does not run an "
        f"applied step again ({STEP.id})"
    ) in other.stderr
    assert alembic_cli(*x, "downgrade", "base", dsn=pg_database.dsn).returncode == 0


def test_a_table_dropped_before_the_downgrade_is_no_obstacle(pg_database: PgDatabase) -> None:
    # In an application's project, `alembic downgrade base` may drop the application's tables
    # before it undoes the kit's branch: their privileges went with them.
    roles = unique_roles()
    execute(pg_database.dsn, *OBJECTS)
    before = snapshot(pg_database.dsn)
    migrate.upgrade(pg_database.url, "head", **roles)
    execute(pg_database.dsn, "DROP VIEW public.item_names", "DROP TABLE public.items")
    migrate.downgrade(pg_database.url, "base", **roles)
    execute(pg_database.dsn, *OBJECTS[:2])
    assert diff(before, snapshot(pg_database.dsn)) == {}


def test_objects_the_migrating_role_may_not_grant_on_stop_the_run_with_the_ways_out(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    # The default privileges are for the role that creates the application's tables
    # (table_owner_role), to which the migrating role must belong when h004 sets them. A
    # database upgraded to h008 before this step came, and whose migrating role left that
    # role since, cannot grant on its tables: the upgrade to head stops and says the ways out.
    owner, tables = login_role("CREATEROLE"), login_role()
    prepare_owner(pg_database, owner)
    grant = sql.SQL("GRANT {} TO {}").format(sql.Identifier(tables), sql.Identifier(owner))
    execute(
        pg_database.dsn,
        grant,
        sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(tables)),
    )
    execute(libpq_dsn(pg_database.url.set(username=tables, password=tables)), OBJECTS[0])
    as_owner = pg_database.url.set(username=owner, password=owner)
    roles = {**unique_roles(), "table_owner_role": tables}
    migrate.upgrade(as_owner, str(STEP.down_revision), **roles)
    execute(
        pg_database.dsn,
        sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(tables), sql.Identifier(owner)),
    )
    at_h008 = snapshot(pg_database.dsn)
    with pytest.raises(HardeningError) as exc:
        migrate.upgrade(as_owner, "head", **roles)
    assert exit_message(exc) == (
        f"pg-hardening: step {STEP.id} could not grant SELECT on public.items to "
        f"{roles['readonly_role']}: role {owner} neither owns it nor holds SELECT on it WITH "
        f"GRANT OPTION; hint: run the upgrade as its owner {tables}, a role that inherits its "
        "privileges, or a superuser; or pass -x grant_existing=off and grant on the existing "
        "objects yourself; nothing was changed"
    )
    assert diff(at_h008, snapshot(pg_database.dsn)) == {}
    assert version_num(pg_database.dsn) == [(STEP.down_revision,)]

    migrate.upgrade(as_owner, "head", grant_existing="off", **roles)  # one way out
    assert privileges(pg_database.dsn, roles["readwrite_role"]) == {}
    migrate.downgrade(as_owner, str(STEP.down_revision), **roles)
    assert diff(at_h008, snapshot(pg_database.dsn)) == {}

    execute(pg_database.dsn, grant)  # the other
    migrate.upgrade(as_owner, "head", **roles)
    assert set(privileges(pg_database.dsn, roles["readwrite_role"])) == {"items", "items_id_seq"}
    migrate.downgrade(as_owner, "base", **roles)
