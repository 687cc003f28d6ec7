"""Throwaway names for the kit's role settings and LOGIN roles that tests make and drop."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from hardening.settings import libpq_dsn
from hardening.testing import PgServer

ROLE_SETTINGS = (
    "audit_role",
    "audit_reader_role",
    "readonly_role",
    "readwrite_role",
    "password_admin_role",
)


def unique_roles(tag: str = "t") -> dict[str, str]:
    """Role settings of their own, so tests sharing one server never share kit roles."""
    suffix = uuid.uuid4().hex[:8]
    return {name: f"{tag}_{name}_{suffix}" for name in ROLE_SETTINGS}


def execute(dsn: str, *statements: str | sql.Composed) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@contextmanager
def login_roles(pg_server: PgServer) -> Iterator[Callable[..., str]]:
    """``make(*attributes)`` -> a LOGIN role (password = its name), dropped on exit with what it
    owns or was granted in any database (a database it owns goes back to the superuser).
    Test modules wrap it in a ``login_role`` fixture."""
    made: list[str] = []

    def make(*attributes: str) -> str:
        name = f"login_{uuid.uuid4().hex[:10]}"
        extra = sql.SQL(" ").join(sql.SQL(a) for a in attributes)
        execute(
            pg_server.dsn,
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
                sql.Identifier(name), sql.Literal(name), extra
            ),
        )
        made.append(name)
        return name

    try:
        yield make
    finally:
        _drop(pg_server, made)


def _drop(pg_server: PgServer, made: list[str]) -> None:
    for name in made:
        with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
            owned = conn.execute(
                "SELECT datname FROM pg_database WHERE datdba = "
                "(SELECT oid FROM pg_roles WHERE rolname = %s)",
                (name,),
            ).fetchall()
            for (db,) in owned:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(db))
                )
            databases = conn.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
            ).fetchall()
        for (db,) in databases:
            execute(
                libpq_dsn(pg_server.url_for(db)),
                sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)),
            )
        execute(pg_server.dsn, sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
