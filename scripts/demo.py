"""``make demo``: the kit end to end on a throwaway PostgreSQL with pgaudit.

Starts a server (Docker, or the local backend when no engine runs), runs the real
``alembic upgrade head`` against a fresh database, shows what changed, and stops the server
unless ``--keep`` is given, in which case it prints a URL that accepts connections.

A development tool of this repository (it runs the repository's alembic.ini), so it lives
outside the package and the wheel: ``python scripts/demo.py --backend docker|local
[--version 15|17] [--keep]``.
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
from sqlalchemy import create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hardening import keys
from hardening.blind_index import mapped_blind_index
from hardening.settings import libpq_dsn
from hardening.testing import PgServer, Provisioner, ServerStartError
from hardening.types import EncryptedText, PGPText
from hardening.verify import Status, render_text
from hardening.verify import run as run_verify

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False)
if not console.is_terminal:  # a log or a CI page: wide enough for the verify table
    console.width = 120
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


def verify(title: str) -> Step:
    """A ``hardening verify --scope kit`` step: the controls the migrations are responsible for."""

    def step(server: PgServer, dsn: str) -> None:
        console.rule(title)
        report = run_verify(dsn, scope="kit")
        render_text(report, console)
        failed = [r.control.id for r in report.results if r.status is Status.FAIL]
        console.print(
            f"exit code {report.exit_code}: "
            + (f"{len(failed)} kit controls fail" if failed else "every kit control passes")
        )

    return step


def upgrade(server: PgServer, dsn: str) -> None:
    console.rule("alembic upgrade head")
    console.print(alembic(dsn, "upgrade", "head").strip() or "(nothing to apply)")
    show_state(server, dsn)


def audit_lines(server: PgServer, dsn: str) -> None:
    """A DDL, a role change and a write by the application, and the pgaudit lines they leave."""
    console.rule("pgaudit at work: what the server log records")
    log = server.log_cursor()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE demo_customers (id int PRIMARY KEY, email text)")
        conn.execute("ALTER ROLE hardening_readonly CONNECTION LIMIT 5")
        conn.execute("ALTER ROLE hardening_readonly CONNECTION LIMIT -1")
        conn.execute("INSERT INTO demo_customers VALUES (%s, %s)", (1, "secret-email@example.org"))
    text = log.settle()
    for line in text.splitlines():
        if "AUDIT:" in line:
            console.print(line[line.index("AUDIT:") :], soft_wrap=True)
    shown = "secret-email@example.org" in text
    console.print(
        "the bind parameter (an e-mail address) "
        + ("[red]appears[/red]" if shown else "does not appear")
        + " in the server log"
    )


def round_trip(server: PgServer, dsn: str) -> None:
    """``alembic downgrade base`` gives the old database back; upgrade again for the rest."""
    console.rule("alembic downgrade base, then upgrade head again")
    # The demo's own table holds grants made by the kit's default privileges; an application
    # table like it keeps the group roles alive on downgrade, so the demo removes it first.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE demo_customers")
    alembic(dsn, "downgrade", "base")
    report = run_verify(dsn, scope="kit")
    failed = sum(r.status is Status.FAIL for r in report.results)
    console.print(f"after downgrade base: {failed} kit controls fail again (the original state)")
    alembic(dsn, "upgrade", "head")
    console.print("after upgrade head: hardened again")


def encrypted_round_trip(server: PgServer, dsn: str) -> None:
    """A model with an AEAD column, a pgcrypto column and a blind index: what the ORM reads,
    what the database holds, and a lookup by the blind index."""
    console.rule("encrypted columns: hardening.types")
    if not (os.environ.get("HARDENING_KEYS") or os.environ.get("HARDENING_KEYS_FILE")):
        keys.configure_keys(keys.generate_entry("demo"))  # a throwaway key for this run only
        console.print("HARDENING_KEYS is not set: the demo uses a fresh key of its own (id demo)")

    class Base(DeclarativeBase):
        pass

    class Patient(Base):
        __tablename__ = "demo_patients"
        id: Mapped[int] = mapped_column(primary_key=True)
        ssn: Mapped[str] = mapped_column(EncryptedText())
        ssn_bidx: Mapped[bytes | None] = mapped_blind_index("ssn")
        diagnosis: Mapped[str | None] = mapped_column(PGPText())

    engine = create_engine(server.url_for("demo"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Patient(id=1, ssn="123-45-6789", diagnosis="hypertension"))
        session.commit()
    with Session(engine) as session:
        found = session.scalars(select(Patient).where(Patient.ssn.blind_eq("123-45-6789"))).one()
        console.print(
            f"ORM, looked up by the blind index: ssn={found.ssn!r} diagnosis={found.diagnosis!r}"
        )
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT ssn, diagnosis FROM demo_patients").fetchone()
    assert row is not None
    for name, raw in zip(("ssn", "diagnosis"), row, strict=True):
        console.print(f"stored in {name}: {len(raw)} bytes, {bytes(raw[:24]).hex()}...")
    with psycopg.connect(dsn) as conn:
        clear = conn.execute(
            "SELECT count(*) FROM demo_patients WHERE position(%s in ssn) > 0 "
            "OR position(%s in diagnosis) > 0",
            (b"123-45-6789", b"hypertension"),
        ).fetchone()
    console.print(f"rows whose stored bytes contain a plaintext: {clear[0] if clear else '?'}")
    Base.metadata.drop_all(engine)
    engine.dispose()


STEPS: list[Step] = [
    verify("hardening verify --scope kit, before"),
    upgrade,
    verify("hardening verify --scope kit, after"),
    audit_lines,
    encrypted_round_trip,
    round_trip,
]


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
    dsn = libpq_dsn(server.url_for("demo"))
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
