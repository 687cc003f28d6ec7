"""``make demo``: the kit end to end on a throwaway PostgreSQL 15 with pgaudit.

Starts a server (Docker, or the local backend when no engine runs), runs the real
``alembic upgrade head`` against a fresh database, shows what changed, and stops the server
unless ``--keep`` is given, in which case it prints a URL that accepts connections.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from hardening.testing import PgServer, Provisioner, ServerStartError

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False)
Step = Callable[[PgServer, str], None]


def alembic(dsn: str, *args: str) -> str:
    """Run the real alembic command line against ``dsn``; exit the demo if it fails."""
    env = {**os.environ, "DATABASE_URL": dsn}
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        console.print(proc.stdout + proc.stderr)
        raise SystemExit(f"demo: alembic {' '.join(args)} failed")
    return proc.stdout + proc.stderr


def show_state(server: PgServer, dsn: str) -> None:
    """Extensions and database-level settings of the demo database."""
    with psycopg.connect(dsn) as conn:
        exts = conn.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1").fetchall()
        sets = conn.execute(
            "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d "
            "ON d.oid = s.setdatabase WHERE d.datname = current_database() AND s.setrole = 0"
        ).fetchall()
        rev = conn.execute("SELECT version_num FROM hardening_version").fetchall()
    table = Table(title="demo database after `alembic upgrade head`")
    table.add_column("what")
    table.add_column("value")
    table.add_row("hardening_version", ", ".join(r[0] for r in rev) or "(none)")
    table.add_row("extensions", ", ".join(f"{n} {v}" for n, v in exts))
    table.add_row("database settings", "\n".join(s[0] for s in sets) or "(none)")
    console.print(table)


def upgrade(server: PgServer, dsn: str) -> None:
    console.rule("alembic upgrade head")
    console.print(alembic(dsn, "upgrade", "head").strip() or "(nothing to apply)")
    show_state(server, dsn)


STEPS: list[Step] = [upgrade]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--backend", default="docker", choices=("docker", "local"))
    parser.add_argument("--version", default="15", choices=("15", "17"))
    parser.add_argument(
        "--keep", action="store_true", help="leave the server running and print its URL"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

    prov = Provisioner.create(args.backend, args.version, None)
    console.rule(f"starting PostgreSQL {args.version} with pgaudit ({args.backend} backend)")
    try:
        server = prov.server()
    except ServerStartError as exc:
        console.print(f"[red]demo: {exc}[/red]")
        return 1
    console.print(f"backend={server.backend} postgres={server.version}")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS demo WITH (FORCE)")
        conn.execute("CREATE DATABASE demo")
    dsn = server.url_for("demo").set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        for step in STEPS:
            step(server, dsn)
    finally:
        if args.keep:
            console.rule("server kept running")
            console.print(f"psql '{dsn}'")
            console.print(f"stop it with: {server.stop_hint}")
        else:
            prov.stop_all()
    console.rule("demo finished")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
