"""The kit as a branch inside another Alembic project (examples/app)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory

import hardening
from hardening import migrate
from hardening.testing import LogCursor
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import project_alembic

KIT_HEAD = ScriptDirectory.from_config(migrate.config()).get_current_head()
APP = Path(__file__).resolve().parent.parent / "examples" / "app"


def app_alembic(*args: str, dsn: str, roles: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return project_alembic(*args, cwd=APP, dsn=dsn, roles=roles)


def test_the_app_finds_the_kits_versions_under_the_hardening_label() -> None:
    script = ScriptDirectory.from_config(Config(str(APP / "alembic.ini")))
    locations = {str(Path(p).resolve()) for p in script._version_locations}
    assert str(Path(hardening.migrations_location()).resolve()) in locations
    assert set(script.get_heads()) == {"a002_audit_users", KIT_HEAD}
    assert script.get_revision("hardening@head").revision == KIT_HEAD


def test_upgrade_heads_runs_both_branches_in_the_apps_version_table(
    pg_database: PgDatabase, pg_log: LogCursor
) -> None:
    suffix = uuid.uuid4().hex[:8]
    roles = {"audit_role": f"app_auditor_{suffix}", "audit_reader_role": f"app_reader_{suffix}"}
    roles |= {"readonly_role": f"app_ro_{suffix}", "readwrite_role": f"app_rw_{suffix}"}
    before = snapshot(pg_database.dsn)
    proc = app_alembic("upgrade", "heads", dsn=pg_database.dsn, roles=roles)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        versions = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
        kit_table = conn.execute("SELECT to_regclass('hardening_version')").fetchone()
        conn.execute("SELECT * FROM public.users")
    assert versions == {"a002_audit_users", KIT_HEAD}
    assert kit_table == (None,)
    assert pg_log.wait_for(r"AUDIT: OBJECT,\d+,\d+,READ,SELECT,TABLE,public\.users")
    proc = app_alembic("downgrade", "base", dsn=pg_database.dsn, roles=roles)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (0,)
        conn.execute("DROP TABLE alembic_version")  # alembic keeps its (empty) table
    assert diff(before, snapshot(pg_database.dsn)) == {}
