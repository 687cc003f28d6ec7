"""The verify controls as importable pytest checks, and the hardened_database fixture."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hardening.testing.plugin import PgDatabase
from hardening.verify import CONTROLS, Status, run

KIT = [c for c in CONTROLS if c.scope == "kit"]

SUITE = """
import pytest
from hardening.testing.checks import *  # noqa: F403


@pytest.fixture(scope="session")
def hardening_url() -> str:
    return {url!r}


@pytest.fixture(scope="session")
def hardening_scope() -> str:
    return "kit"
"""


def run_user_suite(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a user's test module that imports the checks, in its own pytest process."""
    (tmp_path / "test_hardening.py").write_text(SUITE.format(url=url), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        timeout=120,
        check=False,
    )


def summary(output: str) -> dict[str, int]:
    last = output.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped)", last)}


def test_hardened_database_passes_every_kit_control(hardened_database: PgDatabase) -> None:
    report = run(hardened_database.url, scope="kit")
    assert [r.control.id for r in report.results if r.status is not Status.PASS] == []


def test_imported_checks_pass_on_a_hardened_database(
    hardened_database: PgDatabase, tmp_path: Path
) -> None:
    proc = run_user_suite(tmp_path, hardened_database.dsn)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert summary(proc.stdout) == {
        "passed": len(KIT),
        "skipped": len(CONTROLS) - len(KIT),
    }


def test_imported_checks_fail_one_test_per_missing_control(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    proc = run_user_suite(tmp_path, pg_database.dsn, "-rf")
    assert proc.returncode == 1
    assert summary(proc.stdout)["failed"] >= 8
    assert "test_hardening_control[pgaudit_installed]" in proc.stdout
    assert "fix: Run `hardening upgrade`" in proc.stdout
    assert "pg-hardening-test" not in proc.stdout  # the test server's password


def test_imported_checks_fail_without_the_password_when_verify_cannot_connect(
    tmp_path: Path,
) -> None:
    url = "postgresql://alice@127.0.0.1:1/app?password=s3cret-pw"
    proc = run_user_suite(tmp_path, url, "-rf")
    assert proc.returncode == 1
    assert "hardening verify could not run: cannot connect to" in proc.stdout
    assert "password=***" in proc.stdout
    assert "s3cret-pw" not in proc.stdout + proc.stderr
