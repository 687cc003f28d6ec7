"""The files generated from the code (scripts/generated.py): the offline SQL in sql/offline/ is
current with the migrations and does what they do; the revision table of docs/migrations.md is
the steps'."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from hardening import migrate
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from scripts import generated
from tests.migrations.catalog import diff, snapshot

PER_DATABASE = ("extensions", "schemas", "relations", "schema_acls", "relation_acls")


@pytest.mark.parametrize("name", sorted(generated.SCRIPTS))
def test_the_copy_in_sql_offline_is_what_alembic_renders_now(name: str) -> None:
    stored = (generated.OFFLINE_DIR / name).read_text(encoding="utf-8")
    assert stored == generated.render(name), (
        f"sql/offline/{name} is stale: regenerate it with `python -m scripts.generated`"
    )


def test_the_revision_table_of_the_docs_is_the_steps() -> None:
    docs = generated.DOCS.read_text(encoding="utf-8")
    assert generated.steps_table() in docs, (
        "docs/migrations.md's revision table differs from hardening.steps.STEPS: regenerate it "
        "with `python -m scripts.generated` (edit the steps' changes/needs, not the table)"
    )


def test_check_mode_reports_a_stale_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    docs = tmp_path / "migrations.md"
    docs.write_text(
        generated.DOCS.read_text(encoding="utf-8").replace("`h004_least_privilege` |", "`h4` |")
    )
    monkeypatch.setattr(generated, "OFFLINE_DIR", tmp_path / "offline")
    monkeypatch.setattr(generated, "DOCS", docs)
    assert generated.main(["--check"]) == 1
    assert generated.main([]) == 0
    assert generated.main(["--check"]) == 0
    assert generated.steps_table() in docs.read_text(encoding="utf-8")


def run_script(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((generated.OFFLINE_DIR / name).read_text(encoding="utf-8").encode())


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
