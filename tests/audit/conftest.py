"""The audit tests' servers: one writing its log in all three forms at once (stderr with a
prefix that records every field, csvlog, jsonlog), and databases on it after the kit's
migrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from hardening import migrate
from hardening.testing import PgServer
from tests.audit.logs import SETTINGS


@pytest.fixture(scope="module")
def log_server(pg_server_factory: Callable[[dict[str, str]], PgServer]) -> PgServer:
    """A server writing stderr, csvlog and jsonlog at once (tests.audit.logs.SETTINGS)."""
    return pg_server_factory(SETTINGS)


@pytest.fixture
def audited_database(log_server: PgServer) -> Iterator[URL]:
    """A database of the three-form server after the kit's migrations (ddl, role, write)."""
    with log_server.database("audit") as url:
        migrate.upgrade(url)
        yield url
