"""``python -m bench encryption`` (what ``make bench`` runs): the encrypted column types against
plaintext, and the column rewrites at scale, on every PostgreSQL version of the invocation,
judged against the kit's targets in that one invocation.

For each version (``--versions 15,17``), one server, with pgcrypto installed by the kit's
revision (its planner costs apply to both pgcrypto contenders), every table created with
``autovacuum_enabled = false`` and ``parallel_workers = 2`` (``--parallel-workers``):

* **select**: ``SELECT id, v`` of ``--rows`` rows (10,000), every value decrypted, through
  Core; **insert**: one executemany of ``--insert-rows`` rows (2,000) into an emptied table,
  in one transaction. Both in paired rounds (``bench.pairing``): each round times every
  contender back to back on the same rows, reversing the order every other round, and each
  figure is the median of the per-round ratios. The padded and row-bound AEAD types run in the
  same rounds, so their cost is read against the plain AEAD type directly.
* **rewrites**: ``op.encrypt_column`` then ``rotate`` over ``--rewrite-rows`` rows (1,000,000;
  0 skips them), in rows a second and the longest transaction either held
  (``bench.rewrite``).

It prints, per version, the table of contenders and the rewrites, then the targets with the
figure of each version, met or missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.engine import Connection, Engine

from bench.contenders import CONTENDERS, PADDING, REFERENCE_ONLY, ROUND_ORDER
from bench.output import report_console
from bench.pairing import Rounds, paired_rounds
from bench.rewrite import RewriteResult, measure_rewrites
from bench.servers import add_server_arguments
from hardening import keys, migrate
from hardening.testing import Provisioner

__all__ = ["TARGETS", "VersionResult", "judge", "main", "measure", "parse_args", "report"]

PGCRYPTO_REVISION = "h002_pgcrypto"
PLAIN, AEAD = "plaintext", "EncryptedText"
PADDED, BOUND = f"EncryptedText(padding={PADDING})", "EncryptedText(bind_row=True)"


@dataclass
class VersionResult:
    """What one version's server measured.

    Args:
        version: PostgreSQL's major version.
        selects: the select rounds.
        inserts: the insert rounds.
        rewrites: ``op.encrypt_column`` and ``rotate`` at scale (empty when skipped).

    Example::

        result.selects.ratio("EncryptedText", "plaintext")
    """

    version: int
    selects: Rounds
    inserts: Rounds
    rewrites: list[RewriteResult] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """One target: what it measures, its bound, and how a version's figure is read.

    Args:
        name: what it measures, as printed.
        bound: the target ("<= 2.5x", ">= 50,000 rows/s").
        figure: a version's figure (``nan`` when the run did not measure it).
        met: whether a figure meets it.
        shown: the figure as printed.

    Example::

        TARGETS[0].met(TARGETS[0].figure(result))
    """

    name: str
    bound: str
    figure: Callable[[VersionResult], float]
    met: Callable[[float], bool]
    shown: Callable[[float], str]


def _times(value: float) -> str:
    return f"{value:.2f}x"


def _rewrite(what: str, pick: Callable[[RewriteResult], float]) -> Callable[[VersionResult], float]:
    def figure(result: VersionResult) -> float:
        found = [pick(r) for r in result.rewrites if r.what == what]
        return found[0] if found else math.nan

    return figure


TARGETS: tuple[Target, ...] = (
    Target(
        "EncryptedText select / plaintext (aim 2.0x)",
        "<= 2.5x",
        lambda r: r.selects.ratio(AEAD, PLAIN),
        lambda v: v <= 2.5,
        _times,
    ),
    Target(
        "EncryptedText insert / plaintext",
        "<= 1.2x",
        lambda r: r.inserts.ratio(AEAD, PLAIN),
        lambda v: v <= 1.2,
        _times,
    ),
    Target(
        "sqlalchemy-utils select / EncryptedText",
        ">= 6x",
        lambda r: r.selects.ratio("sqlalchemy-utils", AEAD),
        lambda v: v >= 6.0,
        _times,
    ),
    Target(
        "PGPText select / plaintext",
        "<= 5x",
        lambda r: r.selects.ratio("PGPText", PLAIN),
        lambda v: v <= 5.0,
        _times,
    ),
    *(
        Target(
            f"{what}, {measure}",
            bound,
            _rewrite(what, pick),
            check,
            shown,
        )
        for what in ("op.encrypt_column", "hardening rotate")
        for measure, bound, pick, check, shown in (
            (
                "rows a second",
                ">= 50,000",
                lambda r: r.rate,
                lambda v: v >= 50_000,
                lambda v: f"{v:,.0f}",
            ),
            (
                "longest transaction",
                "<= 1 s",
                lambda r: r.longest,
                lambda v: v <= 1.0,
                lambda v: f"{v:.2f} s",
            ),
        )
    ),
)


def judge(result: VersionResult) -> list[tuple[Target, float, bool | None]]:
    """Each target with this version's figure and whether it is met (None: not measured).

    Args:
        result: one version's measurements.

    Example::

        for target, figure, met in judge(result): ...
    """
    judged: list[tuple[Target, float, bool | None]] = []
    for target in TARGETS:
        figure = target.figure(result)
        judged.append((target, figure, None if math.isnan(figure) else target.met(figure)))
    return judged


# ------------------------------------------------------------------------------- measuring
def measure(engine: Engine, args: argparse.Namespace, version: int) -> VersionResult:
    """One version's selects, inserts and rewrites (every table it makes is dropped).

    Args:
        engine: a database with the kit's pgcrypto revision applied.
        args: the parsed arguments (``parse_args``).
        version: the server's major version, for the result.

    Example::

        result = measure(engine, parse_args(["--rows", "200"]), 15)
    """
    wanted = {n for n in args.only.split(",") if n}
    names = [n for n in ROUND_ORDER if not wanted or n in wanted or n in (PLAIN, AEAD)]
    values = [f"user-{i:07d}@example.org {os.urandom(4).hex()}" for i in range(args.rows)]
    tables = {n: _table(n, CONTENDERS[n]()) for n in names}
    try:
        for table in tables.values():
            _create(engine, table, _storage(args))
        with engine.begin() as conn:
            for table in tables.values():
                conn.execute(insert(table), [{"id": i, "v": v} for i, v in enumerate(values)])
        with engine.connect() as conn:
            selects = paired_rounds(
                {n: _reader(conn, t, values[0]) for n, t in tables.items()},
                args.rounds,
                sometimes=tuple(REFERENCE_ONLY),
            )
        batch = [{"id": i, "v": v} for i, v in enumerate(values[: args.insert_rows])]
        inserts = paired_rounds(
            {n: _writer(engine, t, batch) for n, t in tables.items()},
            args.rounds,
            setup=lambda n: _empty(engine, tables[n]),
            sometimes=tuple(REFERENCE_ONLY),
        )
    finally:
        with engine.begin() as conn:
            for table in tables.values():
                table.drop(conn, checkfirst=True)
    rewrites = (
        measure_rewrites(engine, args.rewrite_rows, args.batch_size) if args.rewrite_rows else []
    )
    return VersionResult(version, selects, inserts, rewrites)


def _table(name: str, type_: Any) -> Table:
    slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    return Table(
        f"bench_{slug}"[:63],
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("v", type_),
    )


def _create(engine: Engine, table: Table, storage: str) -> None:
    """Create a bench table with the storage parameters every bench table gets."""
    with engine.begin() as conn:  # one transaction: the table never exists without them
        table.create(conn)
        name_sql = conn.dialect.identifier_preparer.format_table(table)
        conn.exec_driver_sql(f"ALTER TABLE {name_sql} SET ({storage})")


def _reader(conn: Connection, table: Table, first: str) -> Callable[[], None]:
    query = select(table.c.id, table.c.v)

    def read() -> None:
        got = [row.v for row in conn.execute(query)]
        # every value decrypted, and row 0's among them: a parallel scan (the pgcrypto tables
        # get one) returns the rows in no fixed order, so it is looked for past the first
        if got and got[0] != first and first not in got:
            raise AssertionError(f"{table.name} read back something else")

    return read


def _writer(engine: Engine, table: Table, batch: list[dict[str, Any]]) -> Callable[[], None]:
    def write() -> None:
        with engine.begin() as conn:
            conn.execute(insert(table), batch)

    return write


def _empty(engine: Engine, table: Table) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {conn.dialect.identifier_preparer.format_table(table)}")


def _storage(args: argparse.Namespace) -> str:
    """The storage parameters of every bench table (the same for all contenders)."""
    params = ["autovacuum_enabled = false"]
    if args.parallel_workers:
        params.append(f"parallel_workers = {int(args.parallel_workers)}")
    return ", ".join(params)


# ------------------------------------------------------------------------------- reporting
def report(console: Console, results: list[VersionResult], args: argparse.Namespace) -> None:
    """Print each version's tables, then the targets with every version's figure.

    Args:
        console: where to print.
        results: one per version.
        args: the parsed arguments (for the method line).

    Example::

        report(Console(), [result15, result17], parse_args([]))
    """
    for result in results:
        console.print(_contenders(result, args))
        if result.rewrites:
            console.print(_rewrites(result))
    targets = RichTable(title="targets, each judged in this invocation")
    targets.add_column("measure")
    targets.add_column("target", justify="right")
    for result in results:
        targets.add_column(f"PostgreSQL {result.version}", justify="right")
    judged = [judge(r) for r in results]
    for i, target in enumerate(TARGETS):
        cells = []
        for per_version in judged:
            _, figure, met = per_version[i]
            verdict = "not run" if met is None else "[green]met[/]" if met else "[red]missed[/]"
            cells.append(f"{target.shown(figure)} {verdict}" if met is not None else verdict)
        targets.add_row(target.name, target.bound, *cells)
    console.print(targets)
    console.print(
        f"{dt.date.today().isoformat()}  {platform.node()}  {os.cpu_count()} cores  "
        f"{_cpu()}  Python {platform.python_version()}  tables SET ({_storage(args)}); "
        f"{args.rounds} paired rounds; select {args.rows:,} rows, insert {args.insert_rows:,}"
    )


def _contenders(result: VersionResult, args: argparse.Namespace) -> RichTable:
    table = RichTable(
        title=f"encrypted columns vs plaintext (PostgreSQL {result.version})",
        caption="ms: median per operation; x: median of the per-round ratios",
    )
    for col in ("type", "select ms", "select x", "insert ms", "insert x", "x EncryptedText"):
        table.add_column(col, justify="left" if col == "type" else "right")
    s, i = result.selects, result.inserts
    for name in (n for n in CONTENDERS if n in s.times):  # as listed, not as timed
        partial = len(s.times[name]) < len(s.times[PLAIN])
        versus = (
            f"{s.ratio(name, AEAD):.2f} / {i.ratio(name, AEAD):.2f}"
            if name in (PADDED, BOUND)
            else ""
        )
        table.add_row(
            name + (" (first rounds)" if partial else ""),
            f"{s.seconds(name) * 1000:,.1f}",
            _times(s.ratio(name, PLAIN)),
            f"{i.seconds(name) * 1000:,.1f}",
            _times(i.ratio(name, PLAIN)),
            versus,
        )
    return table


def _rewrites(result: VersionResult) -> RichTable:
    table = RichTable(title=f"column rewrites (PostgreSQL {result.version})")
    for col in ("rewrite", "rows", "seconds", "rows/s", "longest transaction", "transactions"):
        table.add_column(col, justify="left" if col == "rewrite" else "right")
    for r in result.rewrites:
        table.add_row(
            r.what,
            f"{r.rows:,}",
            f"{r.seconds:.1f}",
            f"{r.rate:,.0f}",
            f"{r.longest:.2f} s",
            f"{r.transactions:,}",
        )
    return table


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ------------------------------------------------------------------------------- the command
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The suite's arguments (see the module docstring).

    Args:
        argv: the arguments after the suite's name; None for none.

    Example::

        parse_args(["--versions", "15", "--rewrite-rows", "0"])
    """
    parser = argparse.ArgumentParser(prog="python -m bench encryption", description=__doc__)
    add_server_arguments(parser)
    parser.add_argument("--rows", type=_positive, default=10_000, help="rows each select reads")
    parser.add_argument("--insert-rows", type=_positive, default=2_000, help="rows per insert")
    parser.add_argument("--rounds", type=_positive, default=15, help="paired rounds")
    parser.add_argument("--rewrite-rows", type=int, default=1_000_000, help="0: no rewrites")
    parser.add_argument("--batch-size", type=_positive, default=5_000, help="rewrite batches")
    parser.add_argument("--only", default="", help="comma-separated contenders (and the lead)")
    parser.add_argument(
        "--parallel-workers",
        type=int,
        default=2,
        help="parallel_workers of every bench table (0: the server's default sizing)",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Measure every version in turn, then report and judge them together.

    Args:
        argv: the suite's arguments.

    Example::

        main(["--versions", "15,17"])
    """
    args = parse_args(argv)
    console = report_console()
    keys.configure_keys(keys.generate_entry("bench"))
    results = []
    for version in args.versions.split(","):
        prov = Provisioner.create(args.backend, version, args.url)
        try:
            server = prov.server()
            console.log(f"PostgreSQL {server.version}: selects, inserts and rewrites")
            with server.database("bench") as url:
                migrate.upgrade(url, PGCRYPTO_REVISION)
                engine = create_engine(url)
                try:
                    results.append(measure(engine, args, server.version))
                finally:
                    engine.dispose()
        finally:
            prov.stop_all()
    report(console, results, args)
    return 0
