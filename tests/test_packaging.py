"""What a wheel ships: every subpackage, the migrations and the SQL a DBA reviews."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
