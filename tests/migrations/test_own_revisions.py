"""Revisions next to the kit's, built from hardening.ops: the example the module documents, and
a later revision that replaces a function a released revision installed, whose downgrade puts
the old body back exactly (ops.replace_function)."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config

import hardening
from hardening import migrate, ops, steps
from hardening.errors import HardeningError
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.roles import execute, unique_roles

ROOT = Path(__file__).resolve().parent.parent.parent
REVISIONS = Path(__file__).resolve().parent / "revisions"
REPLACING = "t001_replace_grant_privilege"
FUNCTION = "hardening.grant_privilege(text, text, text, text, text, text)"


def config_with(database: PgDatabase, location: Path, **x_args: str) -> Config:
    """The kit's migrations (its env.py and versions) plus the revisions in ``location``."""
    cfg = migrate.config(database.url, **x_args)
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option(
        "version_locations", os.pathsep.join([hardening.migrations_location(), str(location)])
    )
    return cfg


# --- the example of hardening.ops' docstring -------------------------------------------------

ORDERS = '''"""The application revision the documented example follows."""
from alembic import op

revision = "a002_orders"
down_revision = None
branch_labels = ("app",)
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA app; CREATE TABLE app.orders (id int)")


def downgrade() -> None:
    op.execute("DROP TABLE app.orders; DROP SCHEMA app")
'''


def documented_example() -> str:
    """The revision module in hardening.ops' docstring, as written there."""
    doc = ops.__doc__ or ""
    block = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert block is not None, "hardening.ops' docstring lost its example"
    return textwrap.dedent(block.group(1))


def test_the_documented_example_of_ops_grants_and_its_downgrade_revokes(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    (tmp_path / "a002_orders.py").write_text(ORDERS)
    (tmp_path / "a003_reporting.py").write_text(documented_example())
    cfg = config_with(pg_database, tmp_path, **unique_roles("ex"))
    execute(
        pg_database.dsn,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reporting') THEN "
        "CREATE ROLE reporting; END IF; END $$",
    )
    held = "SELECT has_table_privilege('reporting', 'app.orders', 'SELECT')"
    try:
        command.upgrade(cfg, "heads")
        with psycopg.connect(pg_database.dsn) as conn:
            assert conn.execute(held).fetchone() == (True,)
            assert conn.execute(
                "SELECT kind, target->>'grantee' FROM hardening.applied "
                "WHERE step = 'a003_reporting'"
            ).fetchall() == [("privilege_granted", "reporting")]
        command.downgrade(cfg, "a002_orders")
        with psycopg.connect(pg_database.dsn) as conn:
            assert conn.execute(held).fetchone() == (False,)
        command.downgrade(cfg, "base")
    finally:
        execute(pg_database.dsn, "DROP OWNED BY reporting")
        execute(pg_database.server.dsn, "DROP ROLE reporting")


# --- a later revision replaces a function of a released one -----------------------------------


def definition(dsn: str) -> tuple[str, str]:
    """(pg_get_functiondef, the ACL) of hardening.grant_privilege."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT pg_get_functiondef(oid), proacl::text FROM pg_proc "
            "WHERE oid = to_regprocedure(%s)",
            (FUNCTION,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def notices_of_a_grant(dsn: str) -> list[str]:
    """The NOTICEs of a call of hardening.grant_privilege for a privilege the caller holds
    (h001's body returns at once), rolled back."""
    seen: list[str] = []
    with psycopg.connect(dsn) as conn:
        conn.add_notice_handler(lambda diag: seen.append(str(diag.message_primary)))
        conn.execute(
            "SELECT hardening.grant_privilege('probe', 'schema', 'hardening', '', 'USAGE', "
            "current_user)"
        )
        conn.rollback()
    return seen


def test_a_later_revision_replaces_a_function_and_its_downgrade_puts_the_old_body_back(
    pg_database: PgDatabase,
) -> None:
    roles = unique_roles("rf")
    head = steps.STEPS[-1].id
    migrate.upgrade(pg_database.url, head, **roles)
    before, catalog = definition(pg_database.dsn), snapshot(pg_database.dsn)
    assert notices_of_a_grant(pg_database.dsn) == []

    cfg = config_with(pg_database, REVISIONS, **roles)
    command.upgrade(cfg, REPLACING)
    body, acl = definition(pg_database.dsn)
    assert "test body of hardening.grant_privilege" in body
    assert acl == before[1], "CREATE OR REPLACE keeps the function's privileges"
    assert notices_of_a_grant(pg_database.dsn) == [
        "test body of hardening.grant_privilege called by step probe"
    ]

    command.downgrade(cfg, head)
    assert definition(pg_database.dsn) == before
    assert diff(catalog, snapshot(pg_database.dsn)) == {}
    assert notices_of_a_grant(pg_database.dsn) == []
    migrate.downgrade(pg_database.url, "base", **roles)


def test_a_function_changed_outside_the_revisions_is_not_replaced(
    pg_database: PgDatabase,
) -> None:
    roles = unique_roles("rf")
    head = steps.STEPS[-1].id
    migrate.upgrade(pg_database.url, head, **roles)
    h001 = ROOT / "sql" / "migrations" / "h001_state" / "grant_privilege.sql"
    original = h001.read_text().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    execute(pg_database.dsn, original.replace("BEGIN\n", "BEGIN\n    -- hot fix\n", 1))
    changed = definition(pg_database.dsn)

    with pytest.raises(HardeningError) as exc:
        command.upgrade(config_with(pg_database, REVISIONS, **roles), REPLACING)
    message = str(exc.value)
    assert message.startswith(
        f"pg-hardening: step {REPLACING} replaces function {FUNCTION}, and this "
        "database holds another body than h001_state/grant_privilege.sql defines: it was "
        "changed outside the revisions; hint: put back the body of h001_state/grant_privilege.sql"
    ), message
    assert definition(pg_database.dsn) == changed
    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT version_num FROM hardening_version").fetchall() == [(head,)]
    execute(pg_database.dsn, original)  # as the revisions left it: the downgrade may run
    migrate.downgrade(pg_database.url, "base", **roles)


@pytest.mark.parametrize(
    "text",
    ["SELECT 1;\n", "CREATE FUNCTION a() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n" * 2],
)
def test_a_file_that_does_not_define_one_function_is_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "f.sql"
    path.write_text(text)
    with pytest.raises(ops.StepError, match=f"{re.escape(str(path))} must define exactly one"):
        ops.replace_function("t", "a()", path, path)
