"""The kit as users get it: the wheel built from this checkout, installed into a fresh venv
outside it, its commands run from an empty directory.

``installed_kit`` (session) installs the session's wheel (``tests.wheel``), with the ``testing``
extra, into a venv of its own (dependencies from PyPI through pip's cache: 15-60 s once per
session). ``kit`` runs commands in the test's own empty
directory, with a clean environment: the venv's bin first on PATH, no PYTHONPATH, no
DATABASE_URL / HARDENING_* / PYTEST_*, and HOME an empty folder of its own (testcontainers'
settings then come from the run's environment or ``kit.home/.testcontainers.properties``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.wheel import BuiltWheel, session_wheel

# The environment of the commands: the caller's, minus what could point them at the checkout
# or at a database, or tell them how to run.
DROPPED = re.compile(r"^(PYTHON\w*|VIRTUAL_ENV|DATABASE_URL|HARDENING_\w+|PYTEST_\w+|HOME)$")


def _run(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@dataclass(frozen=True)
class InstalledKit:
    """A fresh venv with the wheel installed; ``bin`` holds its ``python``, ``hardening`` and
    ``pytest``."""

    venv: Path
    wheel: BuiltWheel

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


@dataclass(frozen=True)
class Kit:
    """The installed kit, run from ``cwd`` (an empty directory)."""

    installed: InstalledKit
    cwd: Path
    home: Path

    def env(self, **changes: str | None) -> dict[str, str]:
        """The commands' environment, with ``changes`` (None removes the variable)."""
        kept = {k: v for k, v in os.environ.items() if not DROPPED.match(k)}
        path = f"{self.installed.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**kept, "PATH": path, "HOME": str(self.home), **changes}
        return {k: v for k, v in env.items() if v is not None}

    def run(self, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (``hardening ...``, ``python ...``, ``pytest ...``: the venv's) in the
        empty directory, with ``env`` changes; returns whatever happened."""
        program = shutil.which(args[0], path=str(self.installed.bin)) or args[0]
        return subprocess.run(
            [program, *args[1:]],
            cwd=self.cwd,
            env=self.env(**env),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    def ok(self, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        """``run``, asserting exit 0 (the message shows both streams)."""
        proc = self.run(*args, **env)
        assert proc.returncode == 0, (
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
        return proc


@pytest.fixture(scope="session")
def installed_kit(tmp_path_factory: pytest.TempPathFactory) -> InstalledKit:
    built_wheel = session_wheel(tmp_path_factory)
    venv = tmp_path_factory.mktemp("installed") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "--quiet", f"{built_wheel.path}[testing]"])
    return InstalledKit(venv=venv, wheel=built_wheel)


@pytest.fixture
def kit(installed_kit: InstalledKit, tmp_path: Path) -> Kit:
    cwd, home = tmp_path / "empty", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return Kit(installed=installed_kit, cwd=cwd, home=home)
