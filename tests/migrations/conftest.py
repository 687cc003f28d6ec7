"""pytest-alembic wired to the kit's environment, for the tests in this folder only: its
``alembic_config`` and ``alembic_engine`` fixtures point at the kit's migrations and a fresh
database of the session's PostgreSQL server (never pytest-alembic's default SQLite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from hardening import migrate
from hardening.testing.plugin import PgDatabase
from tests.roles import unique_roles


@pytest.fixture
def alembic_config() -> Config:
    return Config(alembic_config=migrate.config(**unique_roles("pa")))


@pytest.fixture
def alembic_engine(pg_database: PgDatabase) -> Iterator[Engine]:
    engine = create_engine(pg_database.url)
    yield engine
    engine.dispose()
