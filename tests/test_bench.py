"""The benchmark (``make bench``) runs end to end on a small table and judges the targets."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from rich.console import Console
from sqlalchemy import create_engine

from bench.__main__ import Result, parse_args, ratio, report, run, storage, targets
from bench.contenders import CONTENDERS
from hardening import keys, migrate
from hardening.testing.plugin import PgDatabase


@pytest.fixture
def bench_keys() -> Iterator[None]:
    keys.configure_keys(keys.generate_entry("bench"))
    yield
    keys.configure_keys(None)


def test_a_small_run_times_every_contender_and_prints_the_targets(
    pg_database: PgDatabase, bench_keys: None
) -> None:
    migrate.upgrade(pg_database.url, "h002_pgcrypto")
    args = parse_args(["--rows", "200", "--repeat", "1"])
    console = Console(record=True, width=200, color_system=None)
    engine = create_engine(pg_database.url)
    try:
        results = run(engine, args, console)
    finally:
        engine.dispose()
    assert {(r.name, r.rows) for r in results} == {(name, 200) for name in CONTENDERS}
    for r in results:  # one insert and a best select in every run
        assert list(r.runs) == [0]
        assert all(0 < t < float("inf") for t in r.runs[0]), r
    report(console, results, 15, storage(args))
    text = console.export_text()
    for name in CONTENDERS:
        assert f"│ {name}" in text, text
    for line in (
        "EncryptedText insert",
        "EncryptedText select",
        "EncryptedText select vs",
        "PGPText select",
    ):
        assert line in text, text
    assert "tables SET (autovacuum_enabled = false, parallel_workers = 2)" in text, text
    with psycopg.connect(pg_database.dsn) as conn:  # every table it made is gone
        left = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'bench%'").fetchall()
    assert left == []


def one_run(name: str, insert_s: float, select_s: float) -> Result:
    return Result(name, 10, {0: (insert_s, select_s)})


def test_targets_are_judged_as_docs_encryption_states_them() -> None:
    met = targets(
        [
            one_run("plaintext", 1.0, 1.0),
            one_run("EncryptedText", 1.2, 2.5),  # the bounds themselves are met
            one_run("PGPText", 9.0, 5.0),
            one_run("sqlalchemy-utils", 9.0, 15.0),  # 6.0x the AEAD select
        ]
    )
    assert [(m[1], m[4]) for m in met] == [
        ("EncryptedText insert", True),
        ("EncryptedText select", True),
        ("EncryptedText select vs sqlalchemy-utils", True),
        ("PGPText select", True),
    ]
    missed = targets(
        [
            one_run("plaintext", 1.0, 1.0),
            one_run("EncryptedText", 1.25, 2.6),
            one_run("PGPText", 1.0, 5.1),
            one_run("sqlalchemy-utils", 1.0, 15.0),  # 5.8x
        ]
    )
    assert [m[4] for m in missed] == [False, False, False, False]
    assert [[round(v, 2) for v in m[3]] for m in missed] == [[1.25], [2.6], [5.77], [5.1]]
    # contenders left out of a run (--only) are not judged
    assert targets([one_run("plaintext", 1.0, 1.0), one_run("PGPText", 1.0, 4.0)]) == [
        (10, "PGPText select", "<= 5x", [4.0], True)
    ]


def test_each_ratio_pairs_timings_of_the_same_run() -> None:
    """A slow spell that spans a run moves both sides of that run's ratio: the median of the
    run-by-run ratios, not the ratio of each side's best run (which here would pair the
    plaintext's quiet first run with the AEAD's best, later, run)."""
    plain = Result("plaintext", 10, {0: (1.0, 1.0), 1: (2.0, 2.0), 2: (2.0, 2.0)})
    aead = Result("EncryptedText", 10, {0: (1.2, 2.8), 1: (2.2, 4.4), 2: (2.6, 4.6)})
    assert aead.ratios(plain, "select") == [2.8, 2.2, 2.3]
    assert ratio(aead, plain, "select") == 2.3  # the best-of ratio would be 4.4 / 1.0
    assert ratio(aead, plain, "insert") == 1.2
    assert aead.seconds("select") == 4.4  # times shown are medians over the runs
    # a contender timed in the first run only is paired with that run
    slow = Result("pgcrypto-default", 10, {0: (50.0, 40.0)})
    assert slow.ratios(plain, "select") == [40.0]
