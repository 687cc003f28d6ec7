"""The example application's Alembic environment: its own models and version table
(alembic_version); the pg-hardening branch runs through it like any other branch."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from app.models import Base
from sqlalchemy import create_engine, pool

from hardening import migrate

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
url = context.get_x_argument(as_dictionary=True).get("url") or os.environ["DATABASE_URL"]
url = url.replace("postgresql://", "postgresql+psycopg://", 1)

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection, migrate.forwarding_server_messages(connection):
        # the server's NOTICEs (a kept role, a pgcrypto cost the owner may not set) are shown
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
            migrate.check_server_profile()  # server_profile=on at head is refused, not ignored
    engine.dispose()
