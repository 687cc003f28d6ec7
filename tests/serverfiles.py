"""Files on a test server, written the way a backend-agnostic test can: by the server itself
(``COPY ... TO``, superuser), so the docker and local backends behave alike. For pg_hba.conf,
the certificates of the TLS tests and such; never for a server the tests share."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql


def data_path(dsn: str, name: str) -> str:
    """``name`` in the server's data directory."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    return f"{row[0]}/{name}"


def write(dsn: str, path: str, text: str, mode: str = "600") -> None:
    """``text`` into the server's file ``path`` (no tabs or backslashes: COPY's text format
    would escape them), then ``chmod mode``."""
    assert "\t" not in text
    assert "\\" not in text
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COPY (SELECT unnest(CAST({} AS text[]))) TO {}").format(
                sql.Literal(text.rstrip("\n").split("\n")), sql.Literal(path)
            )
        )
        # the program reads the row first: one that exits before the server has written it
        # makes COPY fail with "could not close pipe to external command: Broken pipe"
        conn.execute(
            sql.SQL("COPY (SELECT 1) TO PROGRAM {}").format(
                sql.Literal(f"cat >/dev/null; chmod {mode} '{path}'")
            )
        )


def install_hba(dsn: str, text: str) -> None:
    """``text`` as the server's pg_hba.conf, reloaded; fails on a line the server refuses."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW hba_file").fetchone()
    assert row is not None
    write(dsn, str(row[0]), text)
    with psycopg.connect(dsn, autocommit=True) as conn:
        errors = conn.execute(
            "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL"
        ).fetchall()
        assert errors == [], errors
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.3)  # the postmaster reloads asynchronously


def alter_system(dsn: str, **values: str) -> None:
    """``ALTER SYSTEM SET name = value`` for each, then reload (settings of the test's own
    server, set as an operator would before the kit runs)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, value in values.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.SQL(name), sql.Literal(value))
            )
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.3)
