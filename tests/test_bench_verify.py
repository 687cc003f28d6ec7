"""The verify figure of ``make bench`` (bench/verify_scale.py), run small: the populated
database holds what it says, leaves nothing behind, and the figure is printed against its
target with the controls that grow."""

from __future__ import annotations

import psycopg
from rich.console import Console

from bench.verify_scale import TARGET_SECONDS, Size, measure, populated, report
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.verify import CONTROLS


def _one(dsn: str, query: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


BENCH_ROLES = "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'bench\\_%'"


def test_a_small_populated_database_holds_its_objects_and_leaves_nothing_behind(
    pg_server: PgServer,
) -> None:
    size = Size(tables=30, roles=25, functions=10)
    roles_before = _one(pg_server.dsn, BENCH_ROLES)
    with pg_server.database("empty") as empty, populated(pg_server, size) as full:
        dsn = libpq_dsn(full)
        tables = _one(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname LIKE 'app\\_%'")
        public_dml = _one(
            dsn,
            "SELECT count(*) FROM information_schema.role_table_grants "
            "WHERE grantee = 'PUBLIC' AND privilege_type = 'INSERT'",
        )
        definers = _one(dsn, "SELECT count(*) FROM pg_proc WHERE prosecdef")
        roles = _one(dsn, BENCH_ROLES) - roles_before
        figure = measure(empty, full, size, rounds=2)
        database = str(full.database)
    assert (tables, public_dml, definers, roles) == (30, 3, 10, 25)
    assert _one(pg_server.dsn, BENCH_ROLES) == roles_before
    assert (
        _one(pg_server.dsn, f"SELECT count(*) FROM pg_database WHERE datname = '{database}'") == 0
    )

    assert len(figure.rounds) == 2
    assert all(0 < seconds < 60 for pair in figure.rounds for seconds in pair)
    assert set(figure.controls) == {c.id for c in CONTROLS}
    console = Console(record=True, width=200, color_system=None)
    report(console, figure)
    text = console.export_text()
    assert f"on {size}: {figure.populated * 1000:,.0f} ms" in text, text
    assert f"target < {TARGET_SECONDS * 1000:,.0f} ms" in text, text
    assert "controls that grow most" in text, text
