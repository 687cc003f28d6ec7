"""The kit's roles are cluster-wide: shared by the databases that use them and dropped by the
last downgrade; a role that exists already is adopted only if it works as the kit's."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from hardening import migrate
from hardening.errors import HardeningError
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import alembic_cli, exit_message
from tests.roles import execute, unique_roles


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


def test_a_kit_role_that_can_log_in_is_refused_and_its_hint_works(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    user = login_role()
    roles = {**unique_roles(), "audit_role": user}
    before = snapshot(pg_database.dsn)
    with pytest.raises(HardeningError) as exc:
        migrate.upgrade(pg_database.url, "head", **roles)
    assert exit_message(exc).startswith(
        f"pg-hardening: role {user} exists and can log in; the kit's roles must be NOLOGIN; "
        f"hint: ALTER ROLE {user} NOLOGIN, or choose another name with the setting audit_role"
    )
    assert diff(before, snapshot(pg_database.dsn)) == {}
    execute(pg_database.dsn, sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(user)))
    nologin = snapshot(pg_database.dsn)
    migrate.upgrade(pg_database.url, "head", **roles)  # adopted now, and kept on downgrade
    migrate.downgrade(pg_database.url, "base", **roles)
    assert diff(nologin, snapshot(pg_database.dsn)) == {}


@pytest.mark.parametrize("how", ["NOINHERIT role", "grant WITH INHERIT FALSE"])
def test_an_adopted_reader_that_would_not_inherit_its_privileges_is_refused_with_the_fix(
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
        with pytest.raises(HardeningError) as exc:
            migrate.upgrade(pg_database.url, "head", **roles)
        message = exit_message(exc)
        assert (
            f"step h006_audit_roles needs role {reader} to inherit the privileges of "
            "pg_read_all_settings, and it does not"
        ) in message
        assert diff(before, snapshot(pg_database.dsn)) == {}
        hint = message.split("; hint: ", 1)[1].split("; or choose another role name")[0]
        assert hint == (
            f"ALTER ROLE {reader} INHERIT; on PostgreSQL 16+ also GRANT pg_read_all_settings "
            f"TO {reader} WITH INHERIT TRUE"
        )
        fix = hint.replace("; on PostgreSQL 16+ also ", "; ").split("; ")
        execute(pg_database.dsn, *(fix if pg_database.server.version >= 16 else fix[:1]))
        migrate.upgrade(pg_database.url, "head", **roles)  # the hint was enough
        migrate.downgrade(pg_database.url, "base", **roles)
    finally:
        execute(pg_database.dsn, sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))
