"""Concurrent runs serialise on the kit's advisory lock; hostile names in every name-valued
setting reach SQL quoted."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
from psycopg import sql

from hardening import migrate
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import REVISIONS, ROOT, db_settings, pgp_costs
from tests.roles import ROLE_SETTINGS, execute, unique_roles


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
