"""pytest-alembic wired to the kit's environment, for the tests in this folder only: its
``alembic_config`` and ``alembic_engine`` fixtures point at the kit's migrations and a fresh
database of the session's PostgreSQL server (never pytest-alembic's default SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pytest_alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from hardening import migrate
from hardening.testing.plugin import PgDatabase


@pytest.fixture
def alembic_config() -> Config:
    suffix = uuid.uuid4().hex[:8]
    roles = {
        name: f"pa_{name}_{suffix}"
        for name in ("audit_role", "audit_reader_role", "readonly_role", "readwrite_role")
    }
    return Config(alembic_config=migrate.config(**roles))


@pytest.fixture
def alembic_engine(pg_database: PgDatabase) -> Iterator[Engine]:
    engine = create_engine(pg_database.url)
    yield engine
    engine.dispose()
