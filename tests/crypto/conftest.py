"""Fixtures of the encrypted-column tests: a keyring, and an engine on a database with
pgcrypto."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from hardening import keys
from hardening.keys import Keyring
from hardening.testing.plugin import PgDatabase
from tests.crypto.models import ring


@pytest.fixture
def k1() -> Iterator[Keyring]:
    keyring = ring("k1")
    keys.configure_keys(keyring)
    yield keyring
    keys.configure_keys(None)


@pytest.fixture
def engine(pg_database: PgDatabase, k1: Keyring) -> Iterator[Engine]:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    eng = create_engine(pg_database.url)
    yield eng
    eng.dispose()


@pytest.fixture
def keyless_engine(pg_database: PgDatabase) -> Iterator[Engine]:
    """An engine on the test's database; the test configures the keys (reset afterwards)."""
    eng = create_engine(pg_database.url)
    yield eng
    eng.dispose()
    keys.configure_keys(None)
