"""Adopting the kit into an application that exists: its Alembic project gains the kit's
versions as a branch. Whichever branch runs first, the application's login role, a member of
the kit's read-write group only, reads and writes the tables, views and sequences, and
``alembic downgrade hardening@base`` takes the kit out again while the application stays:
its tables and rows intact, and roles, memberships, settings and ACLs exactly as without the
kit (catalog snapshots compared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hardening import steps
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import Snapshot, diff, snapshot
from tests.migrations.helpers import project_alembic
from tests.roles import execute, unique_roles

ROOT = Path(__file__).resolve().parent.parent.parent
SHOP = Path(__file__).resolve().parent / "shop"
KIT_HEAD = steps.STEPS[-1].id
# The application's alembic.ini: its env.py is the example application's (an env.py that runs
# the kit as a branch), its versions its own; adopting the kit adds the kit's versions.
INI = """[alembic]
script_location = {root}/examples/app/migrations
prepend_sys_path = {root}/examples/app
version_locations = {versions}
path_separator = space

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = plain

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = plain

[formatter_plain]
format = %(message)s
"""
ROWS = "SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY 1"


class Shop:
    """The shop application's Alembic project (``tests/migrations/shop/``) on one database,
    before or after it adopts the kit."""

    def __init__(self, folder: Path, dsn: str, roles: dict[str, str]) -> None:
        self.folder, self.dsn, self.roles = folder, dsn, roles
        self.adopts_the_kit(False)

    def adopts_the_kit(self, adopted: bool = True) -> None:
        versions = f"{SHOP}/versions" + (" hardening.migrations:versions" if adopted else "")
        self.folder.mkdir(exist_ok=True)
        (self.folder / "alembic.ini").write_text(INI.format(root=ROOT, versions=versions))

    def alembic(self, *args: str) -> str:
        """Run ``alembic ARGS`` in the project; its stderr (alembic's log, server NOTICEs)."""
        proc = project_alembic(*args, cwd=self.folder, dsn=self.dsn, roles=self.roles)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        return proc.stderr

    def versions(self) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}

    def sell(self) -> None:
        """What the application did before: rows in its tables."""
        execute(
            self.dsn,
            "INSERT INTO customers (name) VALUES ('ada'), ('bob')",
            "INSERT INTO orders (customer_id, total) SELECT id, 10 * id FROM customers",
            "SELECT nextval('invoice_numbers')",
        )

    def rows(self) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return [tuple(row) for row in conn.execute(ROWS)]


@contextmanager
def member_of(shop: Shop, group: str, login: str) -> Iterator[str]:
    """The application's login role as a member of the kit's role ``group`` (and nothing
    else) for the block: a connection string that logs in as it. The membership goes after."""
    grant = sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login))
    execute(shop.dsn, grant)
    try:
        yield psycopg.conninfo.make_conninfo(shop.dsn, user=login, password=login)
    finally:
        revoke = sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(login))
        execute(shop.dsn, revoke)


def works_as_the_application(shop: Shop, login: str) -> None:
    """A member of read-write only writes and reads every kind of object the application has
    (a serial's sequence, an identity, a view, a sequence of its own); a member of read-only
    only reads."""
    with member_of(shop, shop.roles["readwrite_role"], login) as as_app:
        execute(
            as_app,
            "INSERT INTO customers (name) VALUES ('cy')",
            "INSERT INTO orders (customer_id, total) SELECT id, 7 FROM customers WHERE name = 'cy'",
            "UPDATE orders SET total = 8 WHERE total = 7",
            "SELECT nextval('invoice_numbers')",
            "DELETE FROM orders WHERE total = 8",
            "DELETE FROM customers WHERE name = 'cy'",
        )
        with psycopg.connect(as_app) as conn:
            assert conn.execute("SELECT * FROM customer_totals ORDER BY 1").fetchall() == [
                ("ada", 10),
                ("bob", 20),
            ]
    with member_of(shop, shop.roles["readonly_role"], login) as as_reader:
        with psycopg.connect(as_reader) as conn:
            assert conn.execute("SELECT count(*) FROM customer_totals").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            execute(as_reader, "INSERT INTO customers (name) VALUES ('eve')")


def equal_but_the_database(one: Snapshot, other: Snapshot) -> dict[str, object]:
    """``diff`` of the snapshots of two databases, whose settings rows name each its own."""
    return {part: change for part, change in diff(one, other).items() if part != "settings"}


def test_an_application_at_head_adopts_the_kit_and_leaves_it_exactly(
    pg_database: PgDatabase, login_role: Callable[..., str], tmp_path: Path
) -> None:
    shop = Shop(tmp_path / "shop", pg_database.dsn, unique_roles("shop"))
    login = login_role()  # the application's, before the kit came
    shop.alembic("upgrade", "heads")
    shop.sell()
    before, rows = snapshot(shop.dsn), shop.rows()

    shop.adopts_the_kit()
    shop.alembic("upgrade", "heads")
    assert shop.versions() == {"s002_orders", KIT_HEAD}
    works_as_the_application(shop, login)

    shop.alembic("downgrade", "hardening@base")
    assert shop.versions() == {"s002_orders"}
    assert shop.rows() == rows
    assert diff(before, snapshot(shop.dsn)) == {}


def test_the_kit_first_on_a_fresh_database_then_the_application_and_out_again(
    pg_server: PgServer, pg_database: PgDatabase, login_role: Callable[..., str], tmp_path: Path
) -> None:
    roles = unique_roles("shop")
    shop = Shop(tmp_path / "shop", pg_database.dsn, roles)
    login = login_role()
    shop.adopts_the_kit()
    shop.alembic("upgrade", "hardening@head")  # its default privileges meet no table yet
    shop.alembic("upgrade", "heads")
    shop.sell()
    rows = shop.rows()
    works_as_the_application(shop, login)

    shop.alembic("downgrade", "hardening@base")
    assert shop.versions() == {"s002_orders"}
    assert shop.rows() == rows
    with pg_server.database() as url:  # the same application, never hardened
        alone = Shop(tmp_path / "alone", libpq_dsn(url), roles)
        alone.alembic("upgrade", "heads")
        assert equal_but_the_database(snapshot(alone.dsn), snapshot(shop.dsn)) == {}
