"""The verify figure of ``make bench``: ``hardening verify`` as a process (interpreter start,
imports, connection, every control, JSON written) on a database of 10,000 tables, 2,000
roles and 500 functions, against the same run on an empty database of a server of its own.

The figure is the median wall time of ``hardening verify --url ...`` with its default text
report. The populated server gets the objects a catalogue-wide control reads: tables in ten schemas
(a tenth of them granting DML to PUBLIC, each with a primary key), login and group roles (each
login role a member of one of twenty groups, and given SELECT on a table), and SECURITY
DEFINER functions (half with a search_path). Timing follows docs of the shared machine:
paired rounds, the two databases back to back in each, their order alternating, and the
median of the per-round ratios beside the medians of the times. Per-control times (the
report's own ``duration_ms``) show which controls grow with the catalogue.

``python -m bench verify-scale [--backend docker|local|url] [--versions 15,17] [--url URL]``
runs it on each version in turn (``make bench`` does, after the other suites).

Example::

    from bench.verify_scale import bench
    figure = bench(provisioner, console)        # prints the figure and the slowest controls
    figure.populated < TARGET_SECONDS
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy.engine import URL

from bench.output import report_console
from bench.servers import add_server_arguments
from hardening.settings import libpq_dsn
from hardening.testing import PgServer, Provisioner

TARGET_SECONDS = 1.0  # docs/verify.md: verify, process included, on the populated database
ROUNDS = 7


@dataclass(frozen=True)
class Size:
    """How many objects the populated database holds."""

    tables: int = 10_000
    roles: int = 2_000
    functions: int = 500

    def __str__(self) -> str:
        return f"{self.tables:,} tables, {self.roles:,} roles, {self.functions:,} functions"


@dataclass
class Figure:
    """The rounds of one measurement.

    rounds
      per round, (empty database s, populated database s), each one process's wall time.
    controls
      per control, its per-round times in ms on (empty, populated), from the reports.
    """

    size: Size
    rounds: list[tuple[float, float]] = field(default_factory=list)
    controls: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def empty(self) -> float:
        """Median seconds of a run on the empty database."""
        return statistics.median(e for e, _ in self.rounds)

    @property
    def populated(self) -> float:
        """Median seconds of a run on the populated database: the figure the target judges."""
        return statistics.median(p for _, p in self.rounds)

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios populated / empty."""
        return statistics.median(p / e for e, p in self.rounds)

    def growth(self, most: int = 5) -> list[tuple[str, float, float]]:
        """The ``most`` controls that grow most: (id, median ms empty, median ms populated)."""
        rows = [
            (
                control_id,
                statistics.median(e for e, _ in times),
                statistics.median(p for _, p in times),
            )
            for control_id, times in self.controls.items()
        ]
        return sorted(rows, key=lambda r: r[1] - r[2])[:most]


def populate(dsn: str, size: Size, prefix: str) -> None:
    """Fill the database ``dsn`` with ``size``'s objects; roles are named ``prefix``_..."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in range(10):
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(f"app_{schema}")))
        # A transaction locks every table it creates: 500 at a time fit the lock table.
        for start in range(0, size.tables, 500):
            stop = min(start + 500, size.tables)
            conn.execute(_do(_TABLES.format(start=start + 1, stop=stop)))
        conn.execute(_do(_ROLES.format(prefix=prefix, roles=size.roles, tables=size.tables)))
        conn.execute(_do(_FUNCTIONS.format(functions=size.functions)))
        conn.execute("ANALYZE")


def _do(body: str) -> sql.Composed:
    return sql.SQL("DO $bench$ BEGIN {} END $bench$").format(sql.SQL(body))


_TABLES = """
FOR i IN {start}..{stop} LOOP
    EXECUTE format('CREATE TABLE app_%s.t_%s (id bigint PRIMARY KEY, v text)', i % 10, i);
    IF i % 10 = 0 THEN
        EXECUTE format('GRANT INSERT, UPDATE ON app_%s.t_%s TO PUBLIC', i % 10, i);
    END IF;
END LOOP;
"""
_ROLES = """
FOR g IN 1..20 LOOP
    EXECUTE format('CREATE ROLE %I NOLOGIN', '{prefix}_group_' || g);
END LOOP;
FOR i IN 1..{roles} - 20 LOOP
    EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %I',
                   '{prefix}_' || i, '{prefix}_group_' || (i % 20 + 1));
    EXECUTE format('GRANT SELECT ON app_%s.t_%s TO %I',
                   (i % {tables} + 1) % 10, i % {tables} + 1, '{prefix}_' || i);
END LOOP;
"""
_FUNCTIONS = """
FOR i IN 1..{functions} LOOP
    EXECUTE format(
        'CREATE FUNCTION app_%s.f_%s() RETURNS int LANGUAGE sql SECURITY DEFINER %s '
        'AS ''SELECT 1''',
        i % 10, i, CASE WHEN i % 2 = 0 THEN 'SET search_path = pg_catalog, pg_temp' ELSE '' END);
END LOOP;
"""


def drop_roles(dsn: str, prefix: str) -> None:
    """Drop the roles ``populate`` made (their privileges went with their database)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) "
                "ORDER BY rolname LIKE '%%\\_group\\_%%'",  # members before their groups
                (f"{prefix}_",),
            )
        ]
        for start in range(0, len(names), 500):
            conn.execute(
                sql.SQL("DROP ROLE {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, names[start : start + 500]))
                )
            )


@contextmanager
def populated(server: PgServer, size: Size) -> Iterator[URL]:
    """A fresh database of ``server`` holding ``size``'s objects; gone afterwards, roles too."""
    prefix = f"bench_{uuid.uuid4().hex[:6]}"
    try:
        with server.database("bench_verify") as url:
            populate(libpq_dsn(url), size, prefix)
            yield url
    finally:
        drop_roles(server.dsn, prefix)


def verify_once(url: URL, fmt: str = "text") -> tuple[float, str]:
    """One ``hardening verify`` process, as a person runs it (``text``) unless ``fmt`` says
    otherwise: its wall seconds and its output."""
    command = [_hardening(), "verify", "--url", libpq_dsn(url), "--format", fmt]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"hardening verify exited {proc.returncode}: {proc.stderr.strip()}")
    return took, proc.stdout


def control_times(url: URL) -> dict[str, float]:
    """Milliseconds per control, as a JSON report of ``url`` gives them."""
    report = json.loads(verify_once(url, "json")[1])
    return {c["id"]: float(c["duration_ms"]) for c in report["controls"]}


def _hardening() -> str:
    beside = Path(sys.executable).with_name("hardening")
    return str(beside) if beside.exists() else shutil.which("hardening") or "hardening"


def measure(empty: URL, full: URL, size: Size, rounds: int = ROUNDS) -> Figure:
    """``rounds`` paired rounds, the two databases back to back, their order alternating
    (a first, untimed run of each warms the caches)."""
    verify_once(empty)
    verify_once(full)
    figure = Figure(size)
    for index in range(rounds):
        order = (empty, full) if index % 2 == 0 else (full, empty)
        timed = {str(url): verify_once(url)[0] for url in order}
        figure.rounds.append((timed[str(empty)], timed[str(full)]))
        if index % 2:  # per-control times, from JSON runs between the timed ones
            e_ms, p_ms = control_times(empty), control_times(full)
            for control_id, ms in p_ms.items():
                figure.controls.setdefault(control_id, []).append((e_ms[control_id], ms))
    return figure


def report(console: Console, figure: Figure) -> None:
    """Print the figure, the target met or missed, and the controls that grow most."""
    met = figure.populated < TARGET_SECONDS
    verdict = "[green]met[/]" if met else "[red]missed[/]"
    console.print(
        f"hardening verify, process included, on {figure.size}: "
        f"{figure.populated * 1000:,.0f} ms (empty database {figure.empty * 1000:,.0f} ms, "
        f"x{figure.ratio:.2f} paired over {len(figure.rounds)} rounds); "
        f"target < {TARGET_SECONDS * 1000:,.0f} ms {verdict}"
    )
    table = RichTable(title="controls that grow most with the catalogue (median ms)")
    for col in ("control", "empty", "populated"):
        table.add_column(col, justify="left" if col == "control" else "right")
    for control_id, empty_ms, full_ms in figure.growth():
        table.add_row(control_id, f"{empty_ms:.1f}", f"{full_ms:.1f}")
    console.print(table)


def bench(prov: Provisioner, console: Console, size: Size | None = None) -> Figure:
    """Measure and print the verify figure: the empty database on ``prov``'s default server,
    the populated one on a server of its own (roles are cluster-wide)."""
    size = size or Size()
    console.log(f"verify at scale: populating {size}")
    own = prov.server({"cluster_name": "bench_verify_scale"})
    with prov.server().database("bench_empty") as empty, populated(own, size) as full:
        console.log(f"verify at scale: {ROUNDS} paired rounds")
        figure = measure(empty, full, size)
    report(console, figure)
    return figure


def main(argv: list[str] | None = None) -> int:
    """``python -m bench verify-scale``: the verify figure on each version of ``--versions``.

    Args:
        argv: the suite's arguments (``--backend``, ``--versions``, ``--url``).

    Example::

        main(["--backend", "docker", "--versions", "17"])
    """
    parser = argparse.ArgumentParser(prog="python -m bench verify-scale", description=__doc__)
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    console = report_console()
    for version in (v for v in args.versions.split(",") if v):
        prov = Provisioner.create(args.backend, version, args.url)
        try:
            console.log(f"verify at scale: PostgreSQL {prov.server().version}")
            bench(prov, console)
        finally:
            prov.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
