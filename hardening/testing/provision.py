"""Choose a backend and start PostgreSQL servers for tests (docker, local or url)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy.engine import make_url

from hardening.errors import ServerStartError
from hardening.testing import container, local
from hardening.testing.server import PgServer

BACKENDS = ("docker", "local", "url")
VERSIONS = (15, 17)

# Settings every test server gets: durability is worthless for a throwaway server, speed is not.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass
class Provisioner:
    """Starts servers of one backend and version, reuses identical ones, stops them all.

    ``image`` is the docker backend's image template (None: the kit's own image, built on first
    use); ``progress`` hears one line before a slow step (building that image).
    """

    backend: str = "docker"
    version: int = 15
    url: str | None = None
    image: str | None = None
    progress: Callable[[str], None] | None = field(default=None, repr=False)
    _servers: dict[tuple[tuple[str, str], ...], PgServer] = field(default_factory=dict)
    _standbys: list[PgServer] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Provisioner:
        """Read HARDENING_PG_BACKEND, _VERSION, _URL and _IMAGE."""
        return cls.create(
            os.environ.get("HARDENING_PG_BACKEND", "docker"),
            os.environ.get("HARDENING_PG_VERSION", "15"),
            os.environ.get("HARDENING_PG_URL"),
            os.environ.get("HARDENING_PG_IMAGE"),
        )

    @classmethod
    def create(
        cls, backend: str, version: str | int, url: str | None, image: str | None = None
    ) -> Provisioner:
        if backend not in BACKENDS:
            raise ValueError(f"unknown PostgreSQL backend {backend!r}: choose one of {BACKENDS}")
        try:
            major = int(version)
        except ValueError:
            major = -1
        if major not in VERSIONS:
            raise ValueError(f"unsupported PostgreSQL version {version!r}: choose 15 or 17")
        if backend == "url" and not url:
            raise ValueError("the url backend needs a server URL: --pg-url or HARDENING_PG_URL")
        return cls(backend=backend, version=major, url=url, image=image)

    def server(
        self, settings: dict[str, str] | None = None, *, stderr_file: bool = False
    ) -> PgServer:
        """A running server with ``settings`` on top of the defaults; started once, then reused.
        With ``stderr_file``, its standard error is appended to a file (``PgServer.stderr_file``),
        as ``pg_ctl -l`` does: with ``logging_collector = off``, each server process then writes
        its log lines into that file itself (the local backend always starts a server so)."""
        wanted = {**FAST, **(settings or {})}
        key = (*sorted(wanted.items()), ("stderr_file", str(stderr_file)))
        if key not in self._servers:
            server = self._start(
                wanted, default=not settings and not stderr_file, stderr=stderr_file
            )
            _ = server.version  # read while it runs: reports outlive the server
            self._servers[key] = server
        return self._servers[key]

    def _start(self, settings: dict[str, str], default: bool, stderr: bool) -> PgServer:
        if self.backend == "docker":
            problem = container.engine_problem()
            if problem:
                raise ServerStartError(problem)
            return container.start(
                self.version, settings, self.image, self.progress, stderr_file=stderr
            )
        if self.backend == "local":
            return local.start(self.version, settings)
        if not default:
            raise ServerStartError(
                "the url backend serves one existing server and cannot start another with "
                f"settings {settings}{' and its stderr in a file' if stderr else ''}; use the "
                "docker or local backend for this test"
            )
        assert self.url is not None
        return PgServer(
            backend="url",
            url=make_url(self.url),
            read_log=lambda: "",
            stop=lambda: None,
            log_readable=False,
        )

    def standby(self, primary: PgServer, settings: dict[str, str] | None = None) -> PgServer:
        """A hot standby of ``primary`` (pg_basebackup, streaming replication), stopped with the
        others. The primary's pg_hba.conf must admit replication from the standby (its
        address on the engine's network) as the superuser; docker backend only.

        Args:
            primary: a server this provisioner started.
            settings: extra server settings for the standby (none by default).

        Example::

            standby = provisioner.standby(primary)
            psycopg.connect(standby.dsn).execute("SELECT pg_is_in_recovery()")   # (True,)
        """
        if self.backend != "docker":
            raise ServerStartError(
                f"the {self.backend} backend starts no standby; use --pg-backend docker"
            )
        with psycopg.connect(primary.dsn) as conn:  # the primary as the engine's network sees it
            row = conn.execute("SELECT host(inet_server_addr()), inet_server_port()").fetchone()
        assert row is not None
        server = container.start(
            self.version,
            {**FAST, **(settings or {})},
            self.image,
            self.progress,
            standby_of=f"{row[0]}:{row[1]}",
        )
        self._standbys.append(server)
        return server

    def stop_all(self) -> None:
        for standby in self._standbys:
            standby.stop()
        self._standbys.clear()
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
