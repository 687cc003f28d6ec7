"""A primary with a streaming hot standby (pg_basebackup from the primary): the kit's migrations
and their database-level settings replicate, ALTER SYSTEM does not, and ``hardening verify``
runs on the read-only standby, its probes skipped with the reason. The profile printed by
``hardening profile --format sql``, run on the standby, gives it the same server settings."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import psycopg
import pytest

from hardening import migrate
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.provision import Provisioner
from hardening.verify import run
from hardening.verify.controls import CONTROLS, PROBES
from tests.roles import unique_roles
from tests.serverfiles import install_hba

# The image's rules, and replication for the superuser from the engine's network.
HBA_WITH_REPLICATION = """\
local    all         all               trust
host     all         all  127.0.0.1/32  scram-sha-256
host     all         all  ::1/128       scram-sha-256
hostssl  all         all  0.0.0.0/0     scram-sha-256
hostssl  all         all  ::/0          scram-sha-256
hostssl  replication all  0.0.0.0/0     scram-sha-256
"""


def caught_up(primary: str, standby: str, timeout: float = 30) -> None:
    with psycopg.connect(primary, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(standby, autocommit=True) as conn:
            done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s", [row[0]]).fetchone()
        if done == (True,):
            return
        assert time.monotonic() < deadline, "the standby did not replay the primary's WAL"
        time.sleep(0.2)


def test_verify_on_a_streaming_standby_after_the_primary_is_upgraded(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
    pg_provisioner: Provisioner,
) -> None:
    if pg_provisioner.backend != "docker":
        pytest.skip("standbys are started by the docker backend")
    primary = pg_server_factory({"cluster_name": "replica_primary"})
    install_hba(primary.dsn, HBA_WITH_REPLICATION)
    standby = pg_provisioner.standby(primary)
    with psycopg.connect(standby.dsn) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

    with primary.database() as url:
        roles = unique_roles()
        migrate.upgrade(url, "head", server_profile="on", **roles)
        on_standby = libpq_dsn(standby.url_for(str(url.database)))
        caught_up(primary.dsn, standby.dsn)

        report = run(on_standby, probe=True, x_args=roles)
        results = {r.control.id: r for r in report.results}
        # database-level settings, roles, extensions: replicated, every kit control passes
        kit = {c.id for c in CONTROLS if c.scope == "kit"}
        assert {i: str(results[i].status) for i in kit} == dict.fromkeys(kit, "pass")
        # the probes write canaries: skipped on the read-only standby, with the reason
        probes = [r for r in report.results if r.control.probe]
        assert [r.control.id for r in probes] == [c.id for c in PROBES]
        for result in probes:
            assert str(result.status) == "skip"
            assert "hot standby" in result.detail
        # ALTER SYSTEM on the primary did not reach the standby
        primary_report = run(libpq_dsn(url), only=["log_connections", "log_error_verbosity"])
        assert {str(r.status) for r in primary_report.results} == {"pass"}
        assert str(results["log_connections"].status) == "fail"
        assert str(results["log_error_verbosity"].status) == "fail"

        # the same server settings, given to the standby as `hardening profile` prints them
        printed = subprocess.run(
            [sys.executable, "-m", "hardening.cli", "profile", "--format", "sql"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        with psycopg.connect(standby.dsn, autocommit=True) as conn:
            for statement in printed.split(";\n"):
                body = "\n".join(x for x in statement.splitlines() if not x.startswith("--"))
                if body.strip():
                    conn.execute(body)
        time.sleep(0.5)  # the reload
        after = run(on_standby, only=["log_connections", "log_error_verbosity"])
        assert {str(r.status) for r in after.results} == {"pass"}

        migrate.downgrade(url, "base", **roles)
