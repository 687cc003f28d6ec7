"""The wheel built from this checkout, once per test session (``session_wheel``), for the tests
of what it ships (test_packaging.py) and of the kit installed from it (installed/).

(Not a fixture of a tests/conftest.py: pytest-alembic binds its built-in tests to that file.)"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the build reads: the project table, its readme and license, and the folders packaged.
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "hardening", "migrations", "sql")


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    output: str  # everything the build printed, the build backend's warnings included


def build_wheel(work: Path) -> BuiltWheel:
    """Build the wheel in ``work`` from a copy of the checkout's build inputs (a build in place
    would write build/ and *.egg-info into it, under a suite that runs twice at once), offline:
    no isolation, with the setuptools the test extra installs ([build-system]'s requirement,
    which ``build`` checks). ``build`` prints the backend's output, where pip would hide it."""
    source = work / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    build = ["-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist")]
    proc = subprocess.run(
        [sys.executable, *build, str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    (wheel,) = (work / "dist").glob("pg_hardening-*.whl")
    return BuiltWheel(path=wheel, output=output)


def session_wheel(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    """The session's wheel: built on the first call, the same one afterwards."""
    return _wheel_in(tmp_path_factory.getbasetemp())


@functools.cache
def _wheel_in(session_temp: Path) -> BuiltWheel:
    work = session_temp / "wheel"
    work.mkdir()
    return build_wheel(work)
