"""pytest plugin: real PostgreSQL + pgaudit servers for the kit's tests and for yours.

Fixtures
  pg_provisioner     session: starts servers of the chosen backend/version, stops them at the end
  pg_server          session: a server with pgaudit preloaded (a ``PgServer``)
  pg_server_factory  session: ``factory(settings)`` -> a server with other settings, for example
                     ``{"shared_preload_libraries": ""}`` for one without pgaudit
  pg_database        a fresh, empty database on ``pg_server`` for each test (a ``PgDatabase``)
  hardened_database  ``pg_database`` after the kit's ``alembic upgrade head`` (a ``PgDatabase``)
  pg_log             a ``LogCursor`` over ``pg_server``'s log, positioned when the test starts

Options (and environment variables)
  --pg-backend docker|local|url   HARDENING_PG_BACKEND   default docker
  --pg-version 15|17              HARDENING_PG_VERSION   default 15
  --pg-url URL                    HARDENING_PG_URL       for the url backend
  --pg-image TEMPLATE             HARDENING_PG_IMAGE     default: the kit's own image

The docker backend runs the kit's image, ``pg-hardening/postgres:{version}-{context}``
(``{context}`` hashes the Dockerfile this package carries): found in the engine, else built
on first use (``hardening.testing.image``; ``hardening testing-image build`` does it ahead).
A ``--pg-image`` with ``{context}`` puts that image under another name (a CI registry's, which
is pulled before building); one without is an image of yours, run as it is. The plugin never
changes the environment: testcontainers' settings (TESTCONTAINERS_RYUK_DISABLED, ...) are yours.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import URL

from hardening.errors import ServerStartError
from hardening.settings import libpq_dsn
from hardening.testing.provision import Provisioner
from hardening.testing.server import LogCursor, PgServer

_STARTED: list[PgServer] = []


@dataclass(frozen=True)
class PgDatabase:
    """A database made for one test; ``url`` is a SQLAlchemy URL, ``dsn`` a libpq URI."""

    server: PgServer
    url: URL

    @property
    def name(self) -> str:
        return str(self.url.database)

    @property
    def dsn(self) -> str:
        return libpq_dsn(self.url)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pg-hardening", "PostgreSQL servers for tests (pg-hardening)")
    group.addoption(
        "--pg-backend",
        default=os.environ.get("HARDENING_PG_BACKEND", "docker"),
        help="docker (testcontainers, default), local (initdb/pg_ctl) or url",
    )
    group.addoption(
        "--pg-version",
        default=os.environ.get("HARDENING_PG_VERSION", "15"),
        help="PostgreSQL major version: 15 or 17 (default 15)",
    )
    group.addoption(
        "--pg-url",
        default=os.environ.get("HARDENING_PG_URL"),
        help="superuser URL of an existing server, for --pg-backend url",
    )
    group.addoption(
        "--pg-image",
        default=os.environ.get("HARDENING_PG_IMAGE"),
        help="docker image template ({version}; {context} makes it the kit's image, built "
        "when missing), default pg-hardening/postgres:{version}-{context}",
    )


@pytest.fixture(scope="session")
def pg_provisioner(request: pytest.FixtureRequest) -> Iterator[Provisioner]:
    opt = request.config.getoption
    try:
        prov = Provisioner.create(
            opt("--pg-backend"), opt("--pg-version"), opt("--pg-url"), opt("--pg-image")
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    prov.progress = _terminal_line(request.config)
    yield prov
    prov.stop_all()


@pytest.fixture(scope="session")
def pg_server(pg_provisioner: Provisioner) -> PgServer:
    server = _started(pg_provisioner, None)
    if server not in _STARTED:
        _STARTED.append(server)
    return server


@pytest.fixture(scope="session")
def pg_server_factory(pg_provisioner: Provisioner) -> Callable[[dict[str, str]], PgServer]:
    def factory(settings: dict[str, str]) -> PgServer:
        return _started(pg_provisioner, settings)

    return factory


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[PgDatabase]:
    with pg_server.database() as url:
        yield PgDatabase(server=pg_server, url=url)


@pytest.fixture
def hardened_database(pg_database: PgDatabase) -> PgDatabase:
    """A fresh database with the kit's migrations applied (``hardening.migrate.upgrade``)."""
    from hardening.migrate import upgrade

    upgrade(pg_database.url)
    return pg_database


@pytest.fixture
def pg_log(pg_server: PgServer) -> LogCursor:
    return pg_server.log_cursor()


def _started(prov: Provisioner, settings: dict[str, str] | None) -> PgServer:
    try:
        return prov.server(settings)
    except ServerStartError as exc:
        pytest.fail(f"PostgreSQL test server: {exc}", pytrace=False)


def _terminal_line(config: pytest.Config) -> Callable[[str], None]:
    """Writes a line on the terminal at once, even while pytest captures output (a build of
    the image on first use takes minutes: the run must not look hung)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            return
        suspended = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with suspended:
            reporter.write_line(f"pg-hardening: {line}")

    return write


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server in _STARTED:
        terminalreporter.write_line(f"backend={server.backend} postgres={server.version}")
