"""Step h002 gives pgcrypto's PGP functions their real planner cost, so large decrypting reads
run in parallel; where the migrating role may not, it says who may and how."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
import pytest

from hardening import migrate
from hardening.errors import HardeningError
from hardening.settings import libpq_dsn
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import alembic_cli, exit_message, give_database, pgp_costs
from tests.roles import execute, unique_roles


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
    with pytest.raises(HardeningError) as exc:
        migrate.upgrade(pg_database.url, "head", pgcrypto_function_cost=value, **unique_roles())
    assert f"setting pgcrypto_function_cost is {value!r}" in exit_message(exc)
    assert diff(before, snapshot(pg_database.dsn)) == {}
