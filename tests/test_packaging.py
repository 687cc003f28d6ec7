"""What a wheel ships: every subpackage, the migrations and the SQL a DBA reviews, and none
of the repository's development tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the build reads: the project table, its readme, and the folders packaged.
BUILD_INPUTS = ("pyproject.toml", "README.md", "hardening", "migrations", "sql")


def test_every_subpackage_of_hardening_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "hardening").rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert {"hardening.migrations", "hardening.migrations.versions", "hardening.sql"} <= listed
    assert config["package-dir"]["hardening.migrations"] == "migrations"
    assert config["package-dir"]["hardening.sql"] == "sql"


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names inside a wheel built from a copy of the checkout (a build in place
    would write build/ and *.egg-info into it, under a suite that runs twice at once)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # setuptools and wheel come with the test extra: no index is needed to build
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w"]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *build, str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (work / "dist").glob("pg_hardening-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_ships_the_package_the_migrations_and_the_sql(wheel_files: list[str]) -> None:
    assert "hardening/__init__.py" in wheel_files
    assert "hardening/py.typed" in wheel_files
    assert "hardening/migrations/env.py" in wheel_files
    assert any(n.startswith("hardening/migrations/versions/h001") for n in wheel_files)
    assert any(n.startswith("hardening/sql/checks/") for n in wheel_files)


def test_the_wheel_ships_no_development_tool(wheel_files: list[str]) -> None:
    # `make demo` runs scripts/demo.py against the repository's alembic.ini, and
    # scripts/generated.py writes into a checkout: neither is a user's tool.
    modules = {Path(n).stem for n in wheel_files if n.endswith(".py")}
    for tool in ("demo", "generated", "offline"):
        assert tool not in modules, [n for n in wheel_files if Path(n).stem == tool]


def test_the_wheel_ships_the_steps_and_the_sql_each_revision_installs(
    wheel_files: list[str],
) -> None:
    assert "hardening/steps/__init__.py" in wheel_files
    shipped = {n.removeprefix("hardening/sql/migrations/") for n in wheel_files}
    frozen = (ROOT / "sql" / "migrations" / "SHA256SUMS").read_text().splitlines()
    assert {line.split("  ", 1)[1] for line in frozen} <= shipped
