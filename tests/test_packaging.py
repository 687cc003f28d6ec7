"""What a wheel ships: every subpackage, the migrations and the SQL a DBA reviews, the docker
backend's build context, its license, and none of the repository's development tools; and it
builds without a deprecation warning."""

from __future__ import annotations

import re
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.wheel import ROOT, BuiltWheel, session_wheel


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


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    return session_wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def wheel_files(built_wheel: BuiltWheel) -> list[str]:
    """The file names inside the session's wheel."""
    with zipfile.ZipFile(built_wheel.path) as archive:
        return archive.namelist()


def test_the_wheel_builds_without_a_warning(built_wheel: BuiltWheel) -> None:
    # a deprecation (the table form of project.license stops building in 2027) or a data
    # folder setuptools would take for a package the configuration forgot
    noted = [
        line
        for line in built_wheel.output.splitlines()
        if re.search(r"deprecat|warning", line, re.I) and "byte-compiling is disabled" not in line
    ]
    assert noted == [], built_wheel.output


def test_the_wheel_declares_its_license_as_an_spdx_expression_and_ships_its_text(
    built_wheel: BuiltWheel, wheel_files: list[str]
) -> None:
    (metadata,) = [n for n in wheel_files if n.endswith(".dist-info/METADATA")]
    with zipfile.ZipFile(built_wheel.path) as archive:
        fields = archive.read(metadata).decode().split("\n\n")[0].splitlines()
    assert "License-Expression: Apache-2.0" in fields
    assert not [f for f in fields if f.startswith("License:")]  # the deprecated field
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel_files)


def test_the_wheel_ships_the_package_the_migrations_and_the_sql(wheel_files: list[str]) -> None:
    assert "hardening/__init__.py" in wheel_files
    assert "hardening/py.typed" in wheel_files
    assert "hardening/migrations/env.py" in wheel_files
    assert any(n.startswith("hardening/migrations/versions/h001") for n in wheel_files)
    assert any(n.startswith("hardening/sql/checks/") for n in wheel_files)
    shipped = {
        *(f"hardening/migrations/versions/{p.name}" for p in ROOT.glob("migrations/versions/*.py")),
        *(f"hardening/sql/{p.relative_to(ROOT / 'sql')}" for p in ROOT.glob("sql/**/*.sql")),
    }
    assert shipped - set(wheel_files) == set()


def test_the_wheel_ships_the_docker_backend_s_build_context(wheel_files: list[str]) -> None:
    docker = {n for n in wheel_files if n.startswith("hardening/testing/docker/")}
    assert docker == {
        "hardening/testing/docker/Dockerfile",
        "hardening/testing/docker/entrypoint.sh",
    }


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
