"""Downgrades restore the catalog exactly (tests/migrations/catalog.py says what the snapshot
covers): from head, one step at a time, past the migrating role's default privileges, and
around extensions and roles that existed before."""

from __future__ import annotations

import itertools
import uuid

import psycopg
from psycopg import sql

from hardening import migrate
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import REVISIONS, db_settings
from tests.roles import execute, unique_roles


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
