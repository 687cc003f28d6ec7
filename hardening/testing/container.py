"""The docker backend: the kit's PostgreSQL + pgaudit image run through testcontainers.

The image is the kit's own (``hardening.testing.image``: found by content hash, else built on
first use) unless the caller names another one. Nothing here changes the process environment:
testcontainers' settings (TESTCONTAINERS_RYUK_DISABLED, DOCKER_HOST, ...) are the user's.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import URL

from hardening.errors import ServerStartError
from hardening.testing import image
from hardening.testing.server import PASSWORD, USER, PgServer, tail

START_TIMEOUT = 60.0
# Where a container started with ``stderr_file=True`` appends the server's standard error.
STDERR_FILE = "/var/lib/postgresql/stderr.log"


def engine_problem() -> str | None:
    """None when a Docker engine answers, else a sentence saying what is wrong and the fix."""
    try:
        image.docker_client().ping()
    except ServerStartError:
        raise
    except Exception as exc:  # any failure here means "no engine"
        return (
            f"no Docker engine answers ({type(exc).__name__}). Start one (`make engine`, or "
            "`dockerd &`) or choose another backend: --pg-backend local | url"
        )
    return None


def resolve_image(
    version: int, template: str | None = None, progress: Callable[[str], None] | None = None
) -> str:
    """The image to run: ``template`` (else HARDENING_PG_IMAGE, else the kit's own) with
    ``{version}`` filled in; a template with ``{context}`` names the kit's image, found or
    built here; any other is the caller's image, used as it is."""
    chosen = template or os.environ.get("HARDENING_PG_IMAGE") or image.DEFAULT_TEMPLATE
    if not image.is_kit_template(chosen):
        return chosen.format(version=version)
    return image.ImageBuilder.from_env(progress).ensure(version, chosen)


def ryuk_problem() -> str | None:
    """None unless testcontainers will want its Ryuk container and cannot get its image."""
    from docker.errors import APIError
    from testcontainers.core.config import testcontainers_config as tc

    if tc.ryuk_disabled:
        return None
    client = image.docker_client()
    try:
        client.images.get(tc.ryuk_image)
        return None
    except APIError:
        pass
    try:
        client.images.pull(tc.ryuk_image)
    except APIError as exc:
        reason = str(exc.explanation or exc).splitlines()[0]
        return (
            f"testcontainers starts its cleanup container {tc.ryuk_image} first, and that image "
            f"cannot be pulled ({reason}). Where no registry answers, set "
            "TESTCONTAINERS_RYUK_DISABLED=true in the environment of the test run (your CI's); "
            "the kit never sets it for you"
        )
    return None


def start(
    version: int,
    settings: dict[str, str],
    image_template: str | None = None,
    progress: Callable[[str], None] | None = None,
    standby_of: str | None = None,
    stderr_file: bool = False,
) -> PgServer:
    """Start a container of the test image for ``version`` with extra server ``settings``;
    with ``standby_of`` (``host:port`` as the container reaches it), a hot standby cloned from
    that primary by pg_basebackup instead of a new cluster; with ``stderr_file``, the server's
    standard error appended to ``STDERR_FILE`` in the container instead of the container's
    log (``read_log`` reads that file)."""
    from testcontainers.community.postgres import PostgresContainer

    image_name = resolve_image(version, image_template, progress)
    problem = ryuk_problem()
    if problem:
        raise ServerStartError(problem)

    class _Container(PostgresContainer):
        def _connect(self) -> None:
            """Wait for the server; fail at once, with its log, if the container dies."""
            deadline = time.monotonic() + START_TIMEOUT
            probe = ["psql", "-h", "127.0.0.1", "-U", USER, "-d", "postgres", "-tAc", "select 1"]
            from docker.errors import APIError

            while True:
                wrapped = self.get_wrapped_container()
                wrapped.reload()
                if wrapped.status in ("exited", "dead"):
                    raise ServerStartError(
                        f"PostgreSQL in {image_name} exited at start "
                        f"(settings {settings}); its log ends with:\n{tail(_log(self))}"
                    )
                try:
                    rc, _ = wrapped.exec_run(probe, environment={"PGPASSWORD": PASSWORD})
                except APIError:
                    # The container stopped between the status check and the exec
                    # (409 "is not running"): the next status check reports its log.
                    rc = -1
                if rc == 0:
                    return
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"PostgreSQL in {image_name} did not accept connections within "
                        f"{START_TIMEOUT:.0f} s; its log ends with:\n{tail(_log(self))}"
                    )
                time.sleep(0.1)

    container = _Container(
        image_name, username=USER, password=PASSWORD, dbname="postgres", driver="psycopg"
    )
    # Publish on loopback only: tests never need the server on another interface.
    # docker-py reads a 1-tuple as (host_ip,): a random port on that address only.
    container.ports["5432"] = ("127.0.0.1",)  # type: ignore[assignment]
    args: list[str] = []
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    container.with_command(args)
    if standby_of:
        container.with_env("PG_HARDENING_STANDBY_OF", standby_of)
    if stderr_file:
        container.with_env("PG_HARDENING_STDERR_FILE", STDERR_FILE)
    try:
        container.start()
    except ServerStartError:
        container.stop()
        raise
    except Exception as exc:
        hint = (
            f". The kit builds its own image when --pg-image is unset or has {{context}}: "
            f"`{image.build_command(version)}`"
        )
        if container._container is not None:  # it was created: its log says more than a hint
            with contextlib.suppress(Exception):  # the original error is the one to report
                hint = f"; its log ends with:\n{tail(_log(container))}"
        container.stop()
        raise ServerStartError(f"could not start {image_name}: {exc}{hint}") from exc

    def url() -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=USER,
            password=PASSWORD,
            host="127.0.0.1",
            port=int(container.get_exposed_port(5432)),
            database="postgres",
        )

    def restart() -> URL:
        container.get_wrapped_container().restart(timeout=30)
        container._connect()  # waits for the server, or fails with its log
        return url()

    def read_log() -> str:
        if stderr_file:
            return _exec(container, ["cat", STDERR_FILE])[1]
        return _log(container)

    return PgServer(
        backend="docker",
        url=url(),
        read_log=read_log,
        stop=container.stop,
        stop_hint=f"docker rm -f {container.get_wrapped_container().short_id}",
        run=lambda argv: _exec(container, argv),
        stderr_file=STDERR_FILE if stderr_file else None,
        _restart=restart,
    )


def _exec(container: Any, argv: Sequence[str]) -> tuple[int, str]:
    """``argv`` in the container as its postgres account (libpq defaults: the local socket)."""
    code, output = container.get_wrapped_container().exec_run(
        list(argv), user="postgres", environment={"PGUSER": USER, "PGDATABASE": "postgres"}
    )
    return int(code), bytes(output).decode("utf-8", "replace")


def _log(container: Any) -> str:
    stdout, stderr = container.get_logs()
    return str((stdout + stderr).decode("utf-8", "replace"))
