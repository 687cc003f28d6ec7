"""The benchmark (``make bench``) runs end to end on a small table and judges the targets."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from rich.console import Console
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine

from bench.__main__ import (
    Result,
    create,
    parse_args,
    ratio,
    report,
    run,
    storage,
    targets,
)
from bench.contenders import CONTENDERS
from hardening import keys, migrate
from hardening.testing.plugin import PgDatabase


@pytest.fixture
def bench_keys() -> Iterator[None]:
    keys.configure_keys(keys.generate_entry("bench"))
    yield
    keys.configure_keys(None)


def test_a_small_run_times_every_contender_in_every_run_and_prints_the_targets(
    pg_database: PgDatabase, bench_keys: None
) -> None:
    migrate.upgrade(pg_database.url, "h002_pgcrypto")
    args = parse_args(["--rows", "200", "--repeat", "2"])
    console = Console(record=True, width=200, color_system=None)
    engine = create_engine(pg_database.url)
    try:
        results = run(engine, args, console)
    finally:
        engine.dispose()
    assert {(r.name, r.rows) for r in results} == {(name, 200) for name in CONTENDERS}
    for r in results:  # one insert and a best select in every run
        assert list(r.runs) == [0, 1]
        assert all(0 < t < float("inf") for times in r.runs.values() for t in times), r
    assert [(t[1], len(t[3])) for t in targets(results)] == [
        ("EncryptedText insert", 2),
        ("EncryptedText select", 2),
        ("EncryptedText select vs sqlalchemy-utils", 2),
        ("PGPText select", 2),
    ]
    report(console, results, 15, storage(args))
    text = console.export_text()
    for name in CONTENDERS:
        assert f"│ {name} " in text, text
    assert "targets (docs/encryption.md)" in text, text
    with psycopg.connect(pg_database.dsn) as conn:  # every table it made is gone
        left = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'bench%'").fetchall()
    assert left == []


def test_every_bench_table_gets_the_storage_parameters(pg_database: PgDatabase) -> None:
    table = Table("bench_MixedCase_1", MetaData(), Column("id", Integer, primary_key=True))
    engine = create_engine(pg_database.url)
    try:
        create(engine, table, storage(parse_args([])))
        create(
            engine,
            Table("bench_x", MetaData(), Column("v", Text)),
            storage(parse_args(["--parallel-workers", "0"])),
        )
    finally:
        engine.dispose()
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


def test_repeat_needs_at_least_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--repeat", "0"])
    assert "needs at least 1 run, not 0" in capsys.readouterr().err


def runs(name: str, *times: tuple[float, float]) -> Result:
    return Result(name, 10, dict(enumerate(times)))


def test_targets_are_judged_by_the_median_of_the_runs() -> None:
    plain = runs("plaintext", (1.0, 1.0), (1.0, 1.0), (1.0, 1.0))
    met = targets(
        [
            plain,
            # per run 1.3 / 1.2 / 1.0 and 3.0 / 2.5 / 2.0: the medians are the bounds themselves
            runs("EncryptedText", (1.3, 3.0), (1.2, 2.5), (1.0, 2.0)),
            runs("PGPText", (9.0, 9.0), (9.0, 5.0), (9.0, 4.0)),
            runs("sqlalchemy-utils", (9.0, 30.0), (9.0, 15.0), (9.0, 8.0)),  # 10x, 6x, 4x
        ]
    )
    assert [(m[1], m[4]) for m in met] == [
        ("EncryptedText insert", True),
        ("EncryptedText select", True),
        ("EncryptedText select vs sqlalchemy-utils", True),
        ("PGPText select", True),
    ]
    assert [m[3] for m in met][1] == [3.0, 2.5, 2.0]  # every run's ratio, in run order
    missed = targets(
        [
            plain,
            runs("EncryptedText", (1.0, 2.0), (1.25, 2.6), (1.3, 2.7)),
            runs("PGPText", (1.0, 4.0), (1.0, 5.1), (1.0, 6.0)),
            runs("sqlalchemy-utils", (1.0, 20.0), (1.0, 15.0), (1.0, 10.0)),  # 10x, 5.8x, 3.7x
        ]
    )
    assert [m[4] for m in missed] == [False, False, False, False]
    # contenders left out of a run (--only) are not judged, nor is the lead without the AEAD
    assert targets([runs("plaintext", (1.0, 1.0)), runs("PGPText", (1.0, 4.0))]) == [
        (10, "PGPText select", "<= 5x", [4.0], True)
    ]
    assert [t[1] for t in targets([plain, runs("sqlalchemy-utils", (1.0, 9.0))])] == []


def test_each_ratio_pairs_timings_of_the_same_run() -> None:
    """Ratios are taken run by run, in run order, and judged by their median: a slow spell
    that spans a run moves both sides of that run's ratio. Pairing each side's best run
    instead would give 3.0 / 1.0 = 3.0 here."""
    plain = runs("plaintext", (2.0, 2.0), (1.0, 1.0), (2.0, 2.0))
    aead = runs("EncryptedText", (4.0, 4.0), (3.0, 3.0), (5.0, 5.0))
    assert aead.ratios(plain, "select") == [2.0, 3.0, 2.5]
    assert ratio(aead, plain, "select") == 2.5
    assert aead.seconds("select") == 4.0  # times shown are medians over the runs
    # a contender timed in the first run only is paired with that run
    slow = runs("pgcrypto-default", (50.0, 40.0))
    assert slow.ratios(plain, "select") == [20.0]
