"""``hardening hba``: the proposed pg_hba.conf, installed on the test image and reloaded,
passes verify's pg_hba controls, keeps superusers off the network, and still admits the
application over TLS with SCRAM (and not without TLS)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from hardening import hba
from hardening.errors import HardeningError
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.verify import run
from tests.serverfiles import install_hba

HBA_CONTROLS = ["hba_weak_methods", "hba_wide_cidr", "hba_remote_superuser", "hba_host_without_ssl"]


def hardening_hba(server: PgServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardening.cli", "hba", "--url", server.dsn, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def statuses(url: object) -> dict[str, str]:
    report = run(url, only=HBA_CONTROLS)  # type: ignore[arg-type]
    return {r.control.id: str(r.status) for r in report.results}


def test_the_proposal_installed_passes_the_hba_controls_and_keeps_superusers_off_the_network(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "hba_proposal"})
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        client = conn.execute("SELECT inet_client_addr()").fetchone()
        # an application role, and an auditor that may read the rules (verify's hba controls)
        for role in ("hba_app", "hba_auditor"):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(role)
                )
            )
        conn.execute("GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO hba_auditor")
        conn.execute("GRANT SELECT ON pg_hba_file_rules TO hba_auditor")
    assert client is not None
    network = str(
        ipaddress.ip_network(f"{client[0]}/32" if client[0].version == 4 else f"{client[0]}/128")
    )
    auditor = server.url.set(
        username="hba_auditor", password="hba_auditor", query={"sslmode": "require"}
    )
    before = statuses(auditor)
    assert before["hba_weak_methods"] == "fail"  # the image's `local ... trust`
    assert before["hba_wide_cidr"] == "fail"  # and its 0.0.0.0/0

    diff = hardening_hba(server, "--network", network, "--diff")
    assert diff.returncode == 0, diff.stderr
    assert "-local all all trust\n" in diff.stdout
    assert "+local all all peer\n" in diff.stdout
    proposal = hardening_hba(server, "--network", network)
    assert proposal.returncode == 0, proposal.stderr
    lines = hba.rule_lines(proposal.stdout)
    assert "host all postgres 0.0.0.0/0 reject" in lines
    assert f"hostssl all all {network} scram-sha-256" in lines
    assert lines[-2:] == ["host all all 0.0.0.0/0 reject", "host all all ::/0 reject"]

    install_hba(server.dsn, proposal.stdout)
    assert statuses(auditor) == dict.fromkeys(HBA_CONTROLS, "pass")
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        psycopg.connect(server.dsn, sslmode="require").close()  # the superuser, remotely
    app = server.url.set(username="hba_app", password="hba_app")
    with psycopg.connect(libpq_dsn(app), sslmode="require") as conn:
        assert conn.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone() == (True,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_dsn(app), sslmode="disable").close()


def test_a_network_wider_than_verify_allows_is_refused() -> None:
    with pytest.raises(HardeningError, match="wider than /16"):
        hba.networks(["10.0.0.0/8"])
    assert hba.networks(["10.1.2.3/16", "2001:db8::/48"]) == ["10.1.0.0/16", "2001:db8::/48"]


def test_role_names_are_quoted_as_pg_hba_takes_them() -> None:
    assert hba.role_field("app") == "app"
    assert hba.role_field("all") == '"all"'
    assert hba.role_field("Mixed Case") == '"Mixed Case"'
    with pytest.raises(HardeningError):
        hba.role_field('a"b')
