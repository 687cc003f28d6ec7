"""Fixtures of the migration tests: ``login_role`` makes LOGIN roles dropped after the test,
and pytest-alembic is wired to the kit's environment: its ``alembic_config`` and
``alembic_engine`` fixtures point at the kit's migrations and a fresh database of the
session's PostgreSQL server (never pytest-alembic's default SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from hardening import migrate
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.roles import login_roles, unique_roles


@pytest.fixture
def login_role(pg_server: PgServer) -> Iterator[Callable[..., str]]:
    with login_roles(pg_server) as make:
        yield make


@pytest.fixture
def alembic_config() -> Config:
    return Config(alembic_config=migrate.config(**unique_roles("pa")))


@pytest.fixture
def alembic_engine(pg_database: PgDatabase) -> Iterator[Engine]:
    engine = create_engine(pg_database.url)
    yield engine
    engine.dispose()
