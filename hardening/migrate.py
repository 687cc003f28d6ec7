"""Run the kit's own migrations from Python: the same env.py and versions the CLI uses, and
what that env.py does around a run (server messages, the version table's preflight)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

import hardening


def config(url: URL | str | None = None, **x_args: str) -> Config:
    """An Alembic Config for the kit's migrations against ``url``, with ``-x`` settings."""
    location = str(Path(hardening.migrations_location()).parent)
    cfg = Config()
    cfg.set_main_option("script_location", location)
    args = [f"{name}={value}" for name, value in x_args.items()]
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        args.append(f"url={rendered}")
    cfg.cmd_opts = _XArgs(args)  # type: ignore[assignment]
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: URL | str, target: str = "head", **x_args: str) -> None:
    command.upgrade(config(url, **x_args), target)


def downgrade(url: URL | str, target: str = "base", **x_args: str) -> None:
    command.downgrade(config(url, **x_args), target)


class _XArgs:
    """The part of alembic's parsed command line that ``context.get_x_argument`` reads."""

    def __init__(self, x: list[str]) -> None:
        self.x = x


# Severities of the server messages a run passes on (client_min_messages keeps lower ones away).
FORWARDED_SEVERITIES = ("WARNING", "NOTICE")


def server_message_line(severity: str, primary: str, hint: str | None) -> str | None:
    """One line for a NOTICE or WARNING the server sent during a run, marked as the server's;
    None for other severities and for pgaudit's own lines (``pgaudit.log_client``), which
    echo statements: the audit trail, not advice, and in a revision of yours maybe values.
    The kit's SQL raises NOTICEs that name roles, functions and the statements that fix
    them, never a password or a key (sql/migrations/state.sql)."""
    if severity not in FORWARDED_SEVERITIES or primary.startswith("AUDIT: "):
        return None
    text = " ".join(primary.splitlines())
    if hint:
        text += "; hint: " + " ".join(hint.splitlines())
    return f"server {severity}: {text}"


@contextmanager
def forwarding_server_messages(
    connection: Connection, write: Callable[[str], Any] | None = None
) -> Iterator[None]:
    """While the block runs, write each NOTICE or WARNING the server sends on ``connection``
    as one line (to stderr by default): alembic itself never shows them."""
    driver: Any = connection.connection.driver_connection
    if not hasattr(driver, "add_notice_handler"):  # not psycopg 3
        yield
        return
    out = write or (lambda line: print(line, file=sys.stderr, flush=True))

    def handler(diag: Any) -> None:
        line = server_message_line(
            str(diag.severity_nonlocalized or diag.severity or ""),
            str(diag.message_primary or ""),
            diag.message_hint,
        )
        if line is not None:
            out(line)

    driver.add_notice_handler(handler)
    try:
        yield
    finally:
        driver.remove_notice_handler(handler)


def version_table_refusal(connection: Connection, table: str) -> str | None:
    """Why the migrating role cannot create alembic's version table ``table``, which alembic
    creates (unqualified: in the first schema of search_path) before any step runs, so before
    h001_state can name what it needs; None when the table exists or may be created."""
    row = connection.execute(
        text(
            "SELECT to_regclass(quote_ident(:table)) IS NOT NULL, quote_ident(current_user), "
            "quote_ident(current_schema()), "
            "has_schema_privilege(current_schema(), 'CREATE'), "
            "quote_ident(current_database())"
        ),
        {"table": table},
    ).one()
    exists, user, schema, may_create, database = row
    if exists or may_create:
        return None
    if schema is None:
        return (
            f"pg-hardening: alembic's version table {table} needs a schema to be created in, "
            f"and search_path names none that exists: set it for role {user} "
            f"(ALTER ROLE {user} SET search_path = public)"
        )
    return (
        f"pg-hardening: role {user} needs the CREATE privilege on schema {schema} for "
        f"alembic's version table {table} (step h001_state then needs CREATE on database "
        f"{database}): run the upgrade as the database owner, or as the schema's owner: "
        f"GRANT CREATE ON SCHEMA {schema} TO {user}"
    )
