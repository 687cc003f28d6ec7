"""The benchmark (``make bench``): paired rounds, the rewrites at scale, every target judged per
version in one invocation; and a small run end to end on a real server."""

from __future__ import annotations

import importlib
import io
import math
import sys
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, text
from sqlalchemy.engine import Engine

import bench.__main__ as dispatcher
from bench.contenders import CONTENDERS, REFERENCE_ONLY, ROUND_ORDER
from bench.encryption import (
    TARGETS,
    VersionResult,
    _create,
    _storage,
    judge,
    measure,
    parse_args,
    report,
)
from bench.output import WIDTH, report_console
from bench.pairing import MIN_RUN, Rounds, paired_rounds, repetitions
from bench.rewrite import RewriteResult, TransactionClock
from hardening import keys, migrate
from hardening.testing.plugin import PgDatabase


@pytest.fixture
def bench_keys() -> Iterator[None]:
    keys.configure_keys(keys.generate_entry("bench"))
    yield
    keys.configure_keys(None)


@pytest.fixture
def engine(pg_database: PgDatabase) -> Iterator[Engine]:
    eng = create_engine(pg_database.url)
    yield eng
    eng.dispose()


def test_a_small_run_measures_every_contender_and_rewrite_and_judges_every_target(
    pg_database: PgDatabase, engine: Engine, bench_keys: None
) -> None:
    migrate.upgrade(pg_database.url, "h002_pgcrypto")
    small = ["--rows", "200", "--insert-rows", "50", "--rounds", "2", "--rewrite-rows", "3000"]
    args = parse_args([*small, "--batch-size", "500"])
    result = measure(engine, args, 15)
    for rounds in (result.selects, result.inserts):
        assert set(rounds.times) == set(CONTENDERS)
        assert all(list(t) == [0, 1] for t in rounds.times.values())  # every round, in order
        assert all(0 < s < 5 for t in rounds.times.values() for s in t.values())
    assert [(r.what, r.rows) for r in result.rewrites] == [
        ("op.encrypt_column", 3000),
        ("hardening rotate", 3000),
    ]
    assert all(r.transactions >= 6 and 0 < r.longest < r.seconds for r in result.rewrites)
    assert all(met is not None for _, _, met in judge(result))
    console = Console(record=True, width=240, color_system=None)
    report(console, [result], args)
    printed = console.export_text()
    for name in CONTENDERS:
        assert f"│ {name}" in printed, printed
    assert "targets, each judged in this invocation" in printed
    assert "column rewrites (PostgreSQL 15)" in printed
    with psycopg.connect(pg_database.dsn) as conn:  # every table it made is gone
        left = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'bench%'").fetchall()
    assert left == []


def test_every_bench_table_gets_the_storage_parameters(
    pg_database: PgDatabase, engine: Engine
) -> None:
    _create(
        engine,
        Table("bench_MixedCase_1", MetaData(), Column("id", Integer, primary_key=True)),
        _storage(parse_args([])),
    )
    _create(
        engine,
        Table("bench_x", MetaData(), Column("v", Text)),
        _storage(parse_args(["--parallel-workers", "0"])),
    )
    with psycopg.connect(pg_database.dsn) as conn:
        options: dict[str, list[str]] = dict(
            conn.execute(
                "SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'bench%' "
                "AND relkind = 'r'"
            ).fetchall()
        )
    assert options == {
        "bench_MixedCase_1": ["autovacuum_enabled=false", "parallel_workers=2"],
        "bench_x": ["autovacuum_enabled=false"],
    }


def test_the_transaction_clock_times_transactions_and_autocommit_statements(
    engine: Engine,
) -> None:
    clock = TransactionClock(engine)
    with clock.watching():
        with engine.begin() as conn:  # one transaction of two statements
            conn.execute(text("SELECT pg_sleep(0.15)"))
            time.sleep(0.1)  # the transaction stays open between them
            conn.execute(text("SELECT 1"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for _ in range(3):
                conn.execute(text("SELECT pg_sleep(0.02)"))
    assert clock.count == 4
    assert 0.25 <= clock.longest < 1.0
    with (
        clock.watching(),
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        conn.execute(text("SELECT pg_sleep(0.05)"))
        time.sleep(0.2)  # between statements in autocommit: no transaction is open
        conn.execute(text("SELECT pg_sleep(0.05)"))
    assert clock.count == 2
    assert clock.longest < 0.2


def test_paired_rounds_time_every_contender_each_round_in_alternating_order() -> None:
    calls: list[str] = []

    def contender(name: str, seconds: float) -> tuple[str, Callable[[], None]]:
        def run() -> None:
            calls.append(name)
            time.sleep(seconds)

        return name, run

    rounds = paired_rounds(
        dict([contender("a", 0.005), contender("b", 0.03), contender("slow", 0.03)]),
        4,
        sometimes=("slow",),
        sometimes_rounds=2,
    )
    assert rounds.repeats["a"] in range(2, math.ceil(MIN_RUN / 0.005) + 1)  # runs of >= 20 ms
    assert (rounds.repeats["b"], rounds.repeats["slow"]) == (1, 1)
    timed = [c for c in calls[3:] if c != "a"]  # after the warm-up: a lead-in, then the run
    assert timed == ["b"] * 2 + ["slow"] * 4 + ["b"] * 6  # reversed every other round
    first = calls[3:][: 1 + rounds.repeats["a"]]
    assert first == ["a"] * (1 + rounds.repeats["a"])  # a's lead-in, untimed, then its run
    assert list(rounds.times["slow"]) == [0, 1]
    assert all(0.004 < t < 0.05 for t in rounds.times["a"].values())  # per operation
    assert len(rounds.ratios("b", "a")) == 4
    assert len(rounds.ratios("slow", "a")) == 2
    assert (repetitions(0.5), repetitions(0.001)) == (1, 20)


def test_the_lead_in_before_each_run_is_not_timed() -> None:
    """The operation right after another contender's pays for what that one left behind;
    the lead-in pays it here, and only the run after it is timed."""
    calls = 0

    def lead_in_slow() -> None:  # sizing: 30 ms (one a run); then 60 ms lead-in, 10 ms run
        nonlocal calls
        time.sleep(0.03 if calls == 0 else 0.06 if calls % 2 else 0.01)
        calls += 1

    rounds = paired_rounds({"c": lead_in_slow}, 3)
    assert calls == 1 + 3 * 2
    assert all(0.009 < t < 0.03 for t in rounds.times["c"].values())


def test_each_figure_is_the_median_of_the_per_round_ratios() -> None:
    """A slow spell of the machine that spans a round moves both sides of that round's
    ratio; pairing each side's median instead would give 4.0 / 2.0 = 2.0 here."""
    rounds = Rounds(
        {"plaintext": {0: 2.0, 1: 1.0, 2: 4.0}, "EncryptedText": {0: 4.0, 1: 3.0, 2: 10.0}}
    )
    assert rounds.ratios("EncryptedText", "plaintext") == [2.0, 3.0, 2.5]
    assert rounds.ratio("EncryptedText", "plaintext") == 2.5
    assert rounds.seconds("EncryptedText") == 4.0


def test_every_pair_a_target_judges_runs_back_to_back_in_a_round() -> None:
    """A ratio is paired only as well as its two sides share a spell of the machine: each
    judged pair of contenders is adjacent in the round's order (and so in its reverse)."""
    assert sorted(ROUND_ORDER) == sorted(CONTENDERS)
    pairs = [t.name.split(" (")[0].split(" / ") for t in TARGETS if " / " in t.name]
    assert len(pairs) == 4  # select and insert against plaintext, sqlalchemy-utils, PGPText
    for name, base in pairs:
        name = name.removesuffix(" select").removesuffix(" insert")
        assert abs(ROUND_ORDER.index(name) - ROUND_ORDER.index(base)) == 1, (name, base)


def result_with(select: float, insert: float, utils: float, pgp: float) -> VersionResult:
    def rounds(**ratios: float) -> Rounds:
        times = {"plaintext": {0: 1.0}} | {k: {0: v} for k, v in ratios.items()}
        return Rounds({k.replace("_", "-"): v for k, v in times.items()})

    selects = rounds(EncryptedText=select, PGPText=pgp)
    selects.times["sqlalchemy-utils"] = {0: select * utils}
    return VersionResult(15, selects, rounds(EncryptedText=insert))


def test_every_target_is_judged_per_version_and_a_missing_measure_is_not_run() -> None:
    met = result_with(2.5, 1.2, 6.0, 5.0)
    met.rewrites = [
        RewriteResult("op.encrypt_column", 1_000_000, 20.0, 0.9, 400),
        RewriteResult("hardening rotate", 1_000_000, 10.0, 1.0, 200),
    ]
    assert [m for _, _, m in judge(met)] == [True] * len(TARGETS)
    missed = result_with(2.6, 1.3, 5.9, 5.1)
    missed.rewrites = [
        RewriteResult("op.encrypt_column", 1_000_000, 20.1, 1.1, 400),
        RewriteResult("hardening rotate", 1_000_000, 21.0, 0.5, 200),
    ]
    assert [m for _, _, m in judge(missed)] == [False] * 7 + [True]
    skipped = result_with(2.0, 1.0, 7.0, 4.0)
    assert [m for _, _, m in judge(skipped)][4:] == [None] * 4  # --rewrite-rows 0


def test_the_dispatcher_runs_the_named_suite_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, list[str]]] = []

    class Suite:
        def __init__(self, name: str) -> None:
            self.name = name

        def main(self, argv: list[str]) -> int:
            seen.append((self.name, argv))
            return 0

    monkeypatch.setitem(dispatcher.SUITES, "other", "other")
    monkeypatch.setattr(importlib, "import_module", lambda name: Suite(name))
    assert dispatcher.main(["other", "--x"]) == 0
    assert dispatcher.main(["--versions", "15"]) == 0
    assert seen == [("other", ["--x"]), ("bench.encryption", ["--versions", "15"])]
    assert set(CONTENDERS) >= REFERENCE_ONLY


def test_a_suite_printing_into_a_file_keeps_its_tables_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redirected (``make bench > bench.txt``), rich assumes 80 columns and cuts labels."""
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    console = report_console()
    assert console.width == WIDTH == 160
    table = RichTable("pgaudit.log", "TPS", "TPS x", "p95 ms", "p95 x", "CPU us/tx", "CPU x")
    table.add_row("default, stderr file (ddl, role, write; no collector)", *["1,234"] * 6)
    console.print(table)
    assert "default, stderr file (ddl, role, write; no collector)" in piped.getvalue()
