"""Issue 13's bar, on the test image: a server brought to head with the server profile and the
image's certificate, restarted where the kit said so, with the pg_hba.conf `hardening hba`
proposes installed: `hardening verify` over every scope fails only on the controls
configuration cannot fix, each listed with its reason in docs/migrations.md."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hardening import migrate
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.verify import Status, run
from tests.roles import unique_roles
from tests.serverfiles import install_hba

DOC = Path(__file__).resolve().parent.parent / "docs" / "migrations.md"
# What no server setting fixes (docs/migrations.md, *What configuration cannot fix*).
# What no server setting fixes, and what the profile leaves on purpose (docs/migrations.md,
# *What configuration cannot fix*).
CANNOT_FIX = {
    "login_roles_without_expiry",  # the bootstrap superuser's VALID UNTIL
    "superuser_login",
    "set_user_installed",
    "hba_external_auth",
    "pki_client_certificates",
    "wal_archiving",
    "log_destination_syslog",
    "client_min_messages",
    "session_timeouts",
}
AUDITOR = "hardened_auditor"
HARDENING = [sys.executable, "-m", "hardening.cli"]
# what the auditor may read besides settings; catalog_privileges judges them (run B, revoked)
READS = (
    "EXECUTE ON FUNCTION pg_hba_file_rules()",
    "SELECT ON pg_hba_file_rules",
    "SELECT ON pg_authid",
)


def test_a_profiled_server_fails_verify_only_where_configuration_cannot_fix(
    pg_server_factory: Callable[[dict[str, str]], PgServer], capsys: pytest.CaptureFixture[str]
) -> None:
    # crash safety as a server in service has it (the test servers' default turns it off)
    server = pg_server_factory(
        {
            "cluster_name": "hardened",
            "fsync": "on",
            "full_page_writes": "on",
            "synchronous_commit": "on",
        }
    )
    with psycopg.connect(server.dsn) as conn:
        row = conn.execute("SELECT host(inet_server_addr()), host(inet_client_addr())").fetchone()
    assert row is not None
    here, client = row
    with server.database() as url:
        roles = unique_roles()
        migrate.upgrade(
            url,
            "head",
            server_profile="on",
            server_listen_addresses=f"{here}, 127.0.0.1",
            audit_log="ddl, role, read, write",  # the STIG's read class
            server_log_statement="all",  # catalog reads logged (bind values stay out: h007)
            **roles,
        )
        assert "take effect when the server restarts" in capsys.readouterr().err
        server.restart()
        database = libpq_dsn(server.url_for(str(url.database)))
        with psycopg.connect(database, autocommit=True) as conn:
            pending = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart")
            assert pending.fetchone() == (0,)
            # verify's connection once superusers are off the network: a login role in the
            # kit's audit reader role, which may also read the pg_hba rules and (for the
            # password controls) pg_authid in this database
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT 5 VALID UNTIL {}"
                ).format(
                    sql.Identifier(AUDITOR),
                    sql.Literal(AUDITOR),
                    sql.Literal(f"{datetime.date.today() + datetime.timedelta(days=30)}"),
                )
            )
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(roles["audit_reader_role"]), sql.Identifier(AUDITOR)
                )
            )
            for what in READS:
                conn.execute(sql.SQL(f"GRANT {what} TO {{}}").format(sql.Identifier(AUDITOR)))
            revoke = "; ".join(
                sql.SQL(f"REVOKE {what} FROM {{}}").format(sql.Identifier(AUDITOR)).as_string(conn)
                for what in READS
            )
            hba_file = str(conn.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
            rules = conn.execute("SELECT pg_read_file(%s)", [hba_file]).fetchone()
            assert rules is not None
            restore = (
                sql.SQL("COPY (SELECT unnest(CAST({} AS text[]))) TO {}")
                .format(sql.Literal(str(rules[0]).rstrip("\n").split("\n")), sql.Literal(hba_file))
                .as_string(conn)
            )
        proposal = subprocess.run(
            [
                *HARDENING,
                "hba",
                "--url",
                server.dsn,
                "--network",
                str(ipaddress.ip_network(client)),
                "--database",
                str(url.database),
                "--user",
                AUDITOR,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        install_hba(server.dsn, proposal)
        assert server.run is not None
        try:
            auditor = server.url_for(str(url.database), AUDITOR, AUDITOR).set(
                query={"sslmode": "require"}
            )
            report = run(auditor, scope="all", skip=["catalog_privileges"], x_args=roles)
            code, out = server.run(
                ["psql", "-v", "ON_ERROR_STOP=1", "-d", str(url.database), "-c", revoke]
            )
            assert code == 0, out
            report.results += run(auditor, only=["catalog_privileges"], x_args=roles).results
            failed = {r.control.id: r.detail for r in report.results if r.status is Status.FAIL}
            assert set(failed) == CANNOT_FIX, failed
            assert report.result("session_encrypted").detail.startswith("TLSv1.3")
            assert report.result("logging_collector").status is Status.PASS
            assert report.result("catalog_privileges").status is Status.PASS
            skipped = {r.control.id: r.detail for r in report.results if r.status is Status.SKIP}
            assert skipped == {}, skipped
        finally:  # superusers are off the network now: put the image's rules back locally
            code, out = server.run(
                ["psql", "-v", "ON_ERROR_STOP=1", "-c", restore, "-c", "SELECT pg_reload_conf()"]
            )
            assert code == 0, out
            time.sleep(0.3)
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(AUDITOR)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(AUDITOR)))
        migrate.downgrade(server.url_for(str(url.database)), "base", **roles)


def test_the_docs_list_each_control_configuration_cannot_fix_with_its_reason() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## What configuration cannot fix", 1)[1].split("\n## ", 1)[0]
    for control_id in CANNOT_FIX:
        assert f"`{control_id}`" in section
