"""The rest of the server profile (step server_settings, server_profile=on): every CIS server
setting configuration can fix, TLS turned on only with a certificate the server can load,
settings that wait for a restart named as such, and downgrade restoring exactly. Each test
runs on a server of its own: ALTER SYSTEM is cluster-wide."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from hardening import migrate, steps
from hardening.errors import HardeningError
from hardening.profile import wanted
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.certs import self_signed
from hardening.verify import Status, run
from tests.migrations.catalog import diff, snapshot
from tests.roles import unique_roles
from tests.serverfiles import alter_system, data_path, install_hba, write

STEP = steps.named("server_settings")
# The test image's rules, with `host` for the network so that this test's client still gets in
# once ssl is off (the image's own hostssl rules admit TLS only).
HBA_WITHOUT_TLS = """\
local    all all               trust
host     all all 127.0.0.1/32  scram-sha-256
host     all all 0.0.0.0/0     scram-sha-256
host     all all ::/0          scram-sha-256
"""
SIGHUP_VALUES = {  # what a new session shows once the reload is through
    "log_truncate_on_rotation": "on",
    "log_error_verbosity": "verbose",
    "log_timezone": "UTC",
    "authentication_timeout": "30",
    "log_replication_commands": "on",
    "ssl": "on",
    "ssl_ciphers": wanted.STRONG_CIPHERS,
    "log_rotation_age": "1440",
}


def without_tls(server: PgServer) -> None:
    """The server as a plain install leaves it: ssl off (by ALTER SYSTEM, which the profile
    overrides), and pg_hba admitting clients without TLS."""
    install_hba(server.dsn, HBA_WITHOUT_TLS)
    alter_system(server.dsn, ssl="off")


def shown(dsn: str, names: list[str]) -> dict[str, tuple[str, bool]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT name, setting, pending_restart FROM pg_settings WHERE name = ANY (%s)",
            [names],
        ).fetchall()
    return {name: (setting, pending) for name, setting, pending in rows}


def settled(dsn: str, expected: dict[str, str]) -> dict[str, str]:
    """The values of ``expected``'s names once a new session shows them (the postmaster
    reloads asynchronously), or as they are after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        values = {name: value for name, (value, _) in shown(dsn, list(expected)).items()}
        if values == expected or time.monotonic() > deadline:
            return values
        time.sleep(0.1)


def tls_version(dsn: str, **params: str) -> str:
    with psycopg.connect(make_conninfo(dsn, sslmode="require", **params)) as conn:
        row = conn.execute(
            "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_the_profile_sets_every_server_setting_turns_tls_on_and_downgrade_restores_exactly(
    pg_server_factory: Callable[[dict[str, str]], PgServer], capsys: pytest.CaptureFixture[str]
) -> None:
    server = pg_server_factory({"cluster_name": "server_settings"})
    without_tls(server)
    with server.database() as url:
        dsn = libpq_dsn(url)
        with pytest.raises(psycopg.OperationalError):
            tls_version(dsn)  # no TLS to begin with
        before = snapshot(dsn)
        roles = unique_roles()
        migrate.upgrade(url, "head", server_profile="on", **roles)
        err = capsys.readouterr().err

        assert settled(dsn, SIGHUP_VALUES) == SIGHUP_VALUES
        assert tls_version(dsn) == "TLSv1.3"
        with pytest.raises(psycopg.OperationalError):  # ssl_min_protocol_version = TLSv1.3
            tls_version(dsn, ssl_max_protocol_version="TLSv1.2")

        restart = ["logging_collector", "shared_preload_libraries", "unix_socket_permissions"]
        assert {n: pending for n, (_, pending) in shown(dsn, restart).items()} == dict.fromkeys(
            restart, True
        )
        lines = [
            line for line in err.splitlines() if "take effect when the server restarts" in line
        ]
        assert len(lines) == 1, err
        assert f"step {STEP.id} wrote {', '.join(restart)}, which take effect" in lines[0]
        assert "pg_ctl restart" in lines[0]
        report = run(url, only=["logging_collector", "log_error_verbosity"])
        pending = report.result("logging_collector")
        assert pending.status is Status.FAIL  # not passing while it waits for the restart
        assert "pending a restart" in pending.detail
        assert report.result("log_error_verbosity").status is Status.PASS
        file_values = system_file(dsn)
        assert file_values["shared_preload_libraries"] == "pgaudit, auth_delay"
        assert file_values["auth_delay.milliseconds"] == "500"
        assert file_values["unix_socket_permissions"] == "0770"

        migrate.downgrade(url, "base", **roles)
        assert diff(before, snapshot(dsn)) == {}
        assert settled(dsn, {"ssl": "off"}) == {"ssl": "off"}


def system_file(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_file_settings "
            "WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno"
        ).fetchall()
    return {str(name): str(setting) for name, setting in rows}


def pem_pair(days: int = 30) -> tuple[str, str]:
    """A self-signed certificate and its key, PEM text."""
    cert, key = self_signed(days)
    return cert.decode(), key.decode()


def upgrade_with_files(url: URL, cert_path: str, key_path: str, roles: dict[str, str]) -> None:
    migrate.upgrade(
        url,
        "head",
        server_profile="on",
        server_ssl_cert_file=cert_path,
        server_ssl_key_file=key_path,
        **roles,
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "the server cannot read the certificate file"),
        ("foreign key", "does not belong to the certificate"),
        ("expired", "not now"),
        ("not a certificate", "holds no PEM certificate"),
    ],
)
def test_without_a_usable_certificate_ssl_is_left_as_it_was_and_one_line_says_why(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
    capsys: pytest.CaptureFixture[str],
    case: str,
    expected: str,
) -> None:
    server = pg_server_factory({"cluster_name": "server_settings_no_tls"})
    without_tls(server)
    cert_path, key_path = data_path(server.dsn, "t.crt"), data_path(server.dsn, "t.key")
    cert, key = pem_pair(days=-1 if case == "expired" else 30)
    if case == "foreign key":
        key = pem_pair()[1]
    if case == "not a certificate":
        cert = "just text"
    if case != "missing":
        write(server.dsn, cert_path, cert)
        write(server.dsn, key_path, key)
    with server.database() as url:
        dsn = libpq_dsn(url)
        roles = unique_roles()
        upgrade_with_files(url, cert_path, key_path, roles)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if "left ssl as it was (off)" in line]
        assert len(lines) == 1, err
        assert expected in lines[0]
        assert "-x server_ssl_cert_file=" in lines[0]  # the fix
        assert "BEGIN" not in err  # no key material
        settled_values = settled(dsn, {"ssl": "off", "log_timezone": "UTC"})
        assert settled_values == {"ssl": "off", "log_timezone": "UTC"}  # the rest applies
        assert "ssl" not in system_file(dsn) or system_file(dsn)["ssl"] == "off"
        assert "ssl_cert_file" not in system_file(dsn)
        migrate.downgrade(url, "base", **roles)


def test_a_key_file_the_server_refuses_puts_ssl_back(
    pg_server_factory: Callable[[dict[str, str]], PgServer], capsys: pytest.CaptureFixture[str]
) -> None:
    # Readable by every user: the files check out, the server refuses the key at the reload.
    server = pg_server_factory({"cluster_name": "server_settings_world_readable"})
    without_tls(server)
    cert_path, key_path = data_path(server.dsn, "w.crt"), data_path(server.dsn, "w.key")
    cert, key = pem_pair()
    write(server.dsn, cert_path, cert)
    write(server.dsn, key_path, key, mode="644")
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        roles = unique_roles()
        upgrade_with_files(url, cert_path, key_path, roles)
        err = capsys.readouterr().err
        assert f"step {STEP.id} put ssl back as it was" in err, err
        assert settled(dsn, {"ssl": "off"}) == {"ssl": "off"}
        assert not {"ssl_cert_file", "ssl_key_file"} & set(system_file(dsn))
        migrate.downgrade(url, "base", **roles)
        assert diff(before, snapshot(dsn)) == {}


def test_the_step_is_refused_where_the_h008_profile_was_applied_without_it(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "server_settings_late"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        roles = unique_roles()
        migrate.upgrade(url, steps.named("server_profile").id, **roles)
        at_h008 = snapshot(dsn)
        with pytest.raises(HardeningError) as exc:
            migrate.upgrade(url, "head", server_profile="on")
        message = str(exc.value)
        assert "server_profile=on, but step h008_server_profile was applied earlier" in message
        assert (
            "hardening downgrade h007_log_hygiene, then hardening upgrade -x server_profile=on head"
            in message
        )
        assert diff(at_h008, snapshot(dsn)) == {}
        migrate.downgrade(url, "base", **roles)


def test_after_a_restart_the_settings_that_waited_for_it_are_in_effect(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "server_settings_restart"})
    with server.database() as url:
        roles = unique_roles()
        migrate.upgrade(url, "head", server_profile="on", **roles)
        server.restart()
        dsn = libpq_dsn(server.url_for(str(url.database)))
        after = shown(
            dsn, ["logging_collector", "shared_preload_libraries", "unix_socket_permissions"]
        )
        assert after == {
            "logging_collector": ("on", False),
            "shared_preload_libraries": ("pgaudit, auth_delay", False),
            "unix_socket_permissions": ("0770", False),
        }
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT pg_current_logfile() IS NOT NULL").fetchone() == (True,)
        report = run(server.url_for(str(url.database)), only=["logging_collector"])
        assert report.result("logging_collector").status is Status.PASS
        migrate.downgrade(server.url_for(str(url.database)), "base", **roles)
