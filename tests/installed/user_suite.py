"""A user's test file, written as docs/testing.md shows: the plugin's fixtures, from the
installed kit, against a real PostgreSQL with pgaudit in the image the kit builds itself.

``test_wheel.py`` copies it into an empty directory as ``test_user_suite.py`` and runs it
with the installed kit's pytest; the repository's own runs never collect it (no ``test_``).
"""

from __future__ import annotations

import os

import psycopg

from hardening.testing import LogCursor, PgServer
from hardening.testing.plugin import PgDatabase

# Taken when pytest imports this file, before any fixture starts a server.
ENVIRONMENT_BEFORE = dict(os.environ)


def test_a_fresh_database_runs_on_a_server_with_pgaudit_preloaded(
    pg_database: PgDatabase,
) -> None:
    with psycopg.connect(pg_database.dsn) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    assert row is not None
    assert "pgaudit" in row[0]


def test_writes_to_a_hardened_database_reach_the_audit_log(
    hardened_database: PgDatabase, pg_log: LogCursor
) -> None:
    with psycopg.connect(hardened_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
        conn.execute("INSERT INTO orders VALUES (1)")
    pg_log.wait_for(r"AUDIT: SESSION,\d+,\d+,WRITE,INSERT,TABLE,public\.orders,")


def test_the_plugin_leaves_the_environment_as_it_found_it(pg_server: PgServer) -> None:
    def without_pytest_s_own(env: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in env.items() if k != "PYTEST_CURRENT_TEST"}

    assert pg_server.version > 0  # the server runs: everything the plugin does has been done
    assert without_pytest_s_own(dict(os.environ)) == without_pytest_s_own(ENVIRONMENT_BEFORE)
