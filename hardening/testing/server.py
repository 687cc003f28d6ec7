"""What every PostgreSQL provisioner hands to tests: URLs, version, and the server log."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from hardening.settings import libpq_dsn

USER = "postgres"
PASSWORD = "pg-hardening-test"  # noqa: S105 - superuser of throwaway test servers only


@dataclass
class PgServer:
    """A running PostgreSQL server reachable as a superuser.

    ``url`` is a SQLAlchemy URL (``postgresql+psycopg://``) for the maintenance database;
    ``read_log`` returns the server log written so far ("" when the backend cannot read it);
    ``run``, when the backend has one, runs a command beside the server (in its container, or
    as its OS user with its binaries first on PATH) with libpq's defaults pointing at it as
    the superuser, and returns ``(exit status, output)``: e.g. ``run(["pgbench", "-i", "db"])``.
    ``restart`` stops and starts the server (the docker and local backends), which settings of
    context postmaster need (``pg_settings.pending_restart``). ``stderr_file`` is the file,
    as the server sees it, that its standard error is appended to (what it logs without the
    logging collector; the local backend's ``pg_ctl -l`` file, or a container started with
    ``Provisioner.server(..., stderr_file=True)``); None when it goes elsewhere.
    """

    backend: str
    url: URL
    read_log: Callable[[], str] = field(repr=False)
    stop: Callable[[], None] = field(repr=False)
    log_readable: bool = True
    stop_hint: str = "(stops with the test session)"
    run: Callable[[Sequence[str]], tuple[int, str]] | None = field(default=None, repr=False)
    stderr_file: str | None = None
    _version: int | None = field(default=None, repr=False)
    _restart: Callable[[], URL] | None = field(default=None, repr=False)

    def restart(self) -> None:
        """Restart the server and wait until it accepts connections; ``url`` follows it (a
        container's published port changes). URLs taken before (``url_for``) are stale then.

        Example::

            server.restart()
            psycopg.connect(server.dsn)   # the new port
        """
        if self._restart is None:
            raise RuntimeError(f"the {self.backend} backend cannot restart its server")
        self.url = self._restart()

    @property
    def dsn(self) -> str:
        """The libpq connection string for the maintenance database."""
        return libpq_dsn(self.url)

    @property
    def version(self) -> int:
        """The server's major version, as the server reports it."""
        if self._version is None:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                self._version = conn.info.server_version // 10000
        return self._version

    def url_for(self, database: str, user: str | None = None, password: str | None = None) -> URL:
        """The URL of another database on this server, optionally as another role."""
        url = self.url.set(database=database)
        if user is not None:
            url = url.set(username=user, password=password)
        return url

    def log_cursor(self) -> LogCursor:
        """A cursor over the server log, positioned at its current end."""
        return LogCursor(self)

    @contextmanager
    def database(self, prefix: str = "t") -> Iterator[URL]:
        """Create a fresh database, yield its URL, and drop it afterwards."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield self.url_for(name)
        finally:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


class LogCursor:
    """Reads the server log from a starting point on, waiting for lines that arrive late."""

    def __init__(self, server: PgServer) -> None:
        if not server.log_readable:
            raise RuntimeError(
                f"the {server.backend} backend cannot read this server's log; "
                "use the docker or local backend for tests that assert log lines"
            )
        self._server = server
        self._start = len(server.read_log())

    def text(self) -> str:
        """Everything logged since the cursor was made."""
        return self._server.read_log()[self._start :]

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def wait_for(self, pattern: str, timeout: float = 5.0) -> list[str]:
        """Lines matching the regular expression ``pattern``; waits until one appears.

        Raises AssertionError with the log read so far when none appears in time.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines() if regex.search(line)]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not found:
            tail = "\n".join(self.lines()[-30:])
            raise AssertionError(f"no server log line matches {pattern!r}; log since mark:\n{tail}")
        return found

    def settle(self, marker: str | None = None, timeout: float = 5.0) -> str:
        """Log a unique marker line and wait for it, so everything before it has arrived."""
        tag = marker or f"pg-hardening-mark-{uuid.uuid4().hex}"
        with psycopg.connect(self._server.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DO {}").format(sql.Literal(f"BEGIN RAISE LOG '{tag}'; END")))
        self.wait_for(re.escape(tag), timeout)
        return self.text()


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])
