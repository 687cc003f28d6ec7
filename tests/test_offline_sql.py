"""The offline SQL in sql/offline/: current with the migrations, and it does what they do."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from hardening import migrate, offline
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot

PER_DATABASE = ("extensions", "schemas", "relations", "schema_acls", "relation_acls")


@pytest.mark.parametrize("name", sorted(offline.SCRIPTS))
def test_the_copy_in_sql_offline_is_what_alembic_renders_now(name: str) -> None:
    stored = (offline.OFFLINE_DIR / name).read_text(encoding="utf-8")
    assert stored == offline.render(name), (
        f"sql/offline/{name} is stale: regenerate it with `python -m hardening.offline`"
    )


def test_check_mode_reports_a_stale_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(offline, "OFFLINE_DIR", tmp_path)
    assert offline.main(["--check"]) == 1
    assert offline.main([]) == 0
    assert offline.main(["--check"]) == 0


def run_script(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((offline.OFFLINE_DIR / name).read_text(encoding="utf-8").encode())


def db_settings(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute("SELECT * FROM hardening.database_settings")]


def test_the_offline_script_hardens_like_online_and_its_downgrade_restores(
    pg_server: PgServer, pg_database: PgDatabase
) -> None:
    with pg_server.database() as online_url:
        migrate.upgrade(online_url, "head")
        online = libpq_dsn(online_url)
        before = snapshot(pg_database.dsn)
        run_script(pg_database.dsn, "upgrade-head.sql")
        hardened, reference = snapshot(pg_database.dsn), snapshot(online)
        assert {k: hardened[k] for k in PER_DATABASE} == {k: reference[k] for k in PER_DATABASE}
        assert db_settings(pg_database.dsn) == db_settings(online)
        # while the online database uses the kit's roles: the downgrade keeps them, as they
        # were before (the last database's downgrade would drop them: roles are cluster-wide)
        run_script(pg_database.dsn, "downgrade-base.sql")
        assert diff(before, snapshot(pg_database.dsn)) == {}
