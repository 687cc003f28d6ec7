"""Alembic environment of pg-hardening.

Target: a connection handed in through ``config.attributes["connection"]`` (the
pytest-alembic convention), else ``-x url=...``, else DATABASE_URL. Versions are kept in
``hardening_version`` so the kit never touches an application's ``alembic_version``; each
revision runs in its own transaction.
"""

from __future__ import annotations

import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from hardening import settings

VERSION_TABLE = "hardening_version"
config = context.config
x_args = context.get_x_argument(as_dictionary=True)
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection | None = None, **kw: object) -> None:
    context.configure(
        connection=connection,
        version_table=VERSION_TABLE,
        transaction_per_migration=True,
        target_metadata=None,
        **kw,  # type: ignore[arg-type]
    )


def run_offline() -> None:
    """``alembic upgrade head --sql``: SQL for review; a URL only selects the dialect."""
    try:
        url = settings.database_url(x_args)
    except settings.SettingsError as exc:
        sys.exit(f"alembic: {exc}")
    _configure(
        url=url or "postgresql+psycopg://", literal_binds=True, dialect_opts={"paramstyle": "named"}
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    handed_in = config.attributes.get("connection")
    if handed_in is not None:
        _configure(handed_in)
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        url = settings.database_url(x_args)
    except settings.SettingsError as exc:
        sys.exit(f"alembic: {exc}")
    if url is None:
        sys.exit("alembic: no target database: set DATABASE_URL or pass -x url=postgresql://...")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
