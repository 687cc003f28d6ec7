"""The controls added for the CIS PostgreSQL 17 Benchmark and the Crunchy Data PostgreSQL 16
STIG, control by control: each fails on the bad state it is about, naming what is wrong, and
passes once its fix is applied.

Server settings are seeded with ALTER SYSTEM on a server of this module's own (it keeps fsync
and full_page_writes on, and its settings are put back after each case); settings a role or a
database can override, and objects, are seeded in a fresh database of the shared server. Roles
are cluster-wide: every case drops the roles it creates."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from hardening.migrate import upgrade
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from hardening.verify import Result, Status, run
from hardening.verify.controls import get
from hardening.verify.runner import evaluate


@dataclass(frozen=True)
class Case:
    """One control's bad state and fix, as SQL a superuser runs in the test's database.

    ``{db}``, ``{r}`` (a login role of the case's own) and ``{t}`` (a table name) are filled
    in; ``names`` is what the failing detail must name. ``system`` cases use ALTER SYSTEM and
    run on the module's own server, which is reloaded after ``seed`` and after ``fix``;
    ``reset`` lists the parameters to put back there.
    """

    control: str
    seed: tuple[str, ...]
    fix: tuple[str, ...]
    names: str = ""
    system: bool = False
    reset: tuple[str, ...] = ()
    upgraded: bool = False


CASES = (
    # -- server settings, with ALTER SYSTEM and a reload ----------------------------------
    Case(
        "log_directory",
        ("ALTER SYSTEM SET log_directory = ''",),
        ("ALTER SYSTEM SET log_directory = 'log'",),
        "log_directory",
        system=True,
        reset=("log_directory",),
    ),
    Case(
        "log_filename",
        ("ALTER SYSTEM SET log_filename = ''",),
        ("ALTER SYSTEM SET log_filename = 'postgresql-%a.log'",),
        "log_filename",
        system=True,
        reset=("log_filename",),
    ),
    Case(
        "log_rotation_age",
        ("ALTER SYSTEM SET log_rotation_age = 0",),
        ("ALTER SYSTEM SET log_rotation_age = '1h'",),
        "log_rotation_age",
        system=True,
        reset=("log_rotation_age",),
    ),
    Case(
        "log_rotation_size",
        ("ALTER SYSTEM SET log_rotation_size = 0",),
        ("ALTER SYSTEM SET log_rotation_size = '1GB'",),
        "log_rotation_size",
        system=True,
        reset=("log_rotation_size",),
    ),
    Case(
        "syslog_sequence_numbers",
        ("ALTER SYSTEM SET syslog_sequence_numbers = off",),
        ("ALTER SYSTEM SET syslog_sequence_numbers = on",),
        "syslog_sequence_numbers = off",
        system=True,
        reset=("syslog_sequence_numbers",),
    ),
    Case(
        "syslog_split_messages",
        ("ALTER SYSTEM SET syslog_split_messages = off",),
        ("ALTER SYSTEM SET syslog_split_messages = on",),
        "syslog_split_messages = off",
        system=True,
        reset=("syslog_split_messages",),
    ),
    Case(
        "syslog_ident",
        ("ALTER SYSTEM SET syslog_ident = ''",),
        ("ALTER SYSTEM SET syslog_ident = 'postgres'",),
        "syslog_ident",
        system=True,
        reset=("syslog_ident",),
    ),
    Case(
        "log_replication_commands",
        ("ALTER SYSTEM SET log_replication_commands = off",),
        ("ALTER SYSTEM SET log_replication_commands = on",),
        "log_replication_commands = off",
        system=True,
        reset=("log_replication_commands",),
    ),
    Case(
        "log_destination_syslog",
        ("ALTER SYSTEM SET log_destination = 'stderr'",),
        ("ALTER SYSTEM SET log_destination = 'stderr,syslog'",),
        "log_destination = stderr",
        system=True,
        reset=("log_destination",),
    ),
    Case(
        "ssl_min_protocol_tls13",
        ("ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.2'",),
        ("ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.3'",),
        "TLSv1.2",
        system=True,
        reset=("ssl_min_protocol_version",),
    ),
    Case(
        "ssl_ciphers",
        ("ALTER SYSTEM SET ssl_ciphers = 'HIGH:MEDIUM:+3DES:!aNULL'",),
        (
            "ALTER SYSTEM SET ssl_ciphers = 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-"
            "SHA384:ECDHE-RSA-CHACHA20-POLY1305:!aNULL'",
        ),
        "not allowed: HIGH, MEDIUM, +3DES",
        system=True,
        reset=("ssl_ciphers",),
    ),
    Case(
        "log_line_prefix_cis",
        ("ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d '",),
        ("ALTER SYSTEM SET log_line_prefix = '%m [%r] [%p]: [l-%l] %u@%d,app=%a,e=%e '",),
        "missing: %r %l %a %e",
        system=True,
        reset=("log_line_prefix",),
    ),
    Case(
        "log_line_prefix_stig",
        ("ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d '",),
        ("ALTER SYSTEM SET log_line_prefix = '< %m %a %u %d %r %p %c %s >'",),
        "missing: %r %a %c %s",
        system=True,
        reset=("log_line_prefix",),
    ),
    Case(
        "client_min_messages",
        ("ALTER SYSTEM SET client_min_messages = 'notice'",),
        ("ALTER SYSTEM SET client_min_messages = 'error'",),
        "client_min_messages = notice",
        system=True,
        reset=("client_min_messages",),
    ),
    Case(
        "session_timeouts",
        ("ALTER SYSTEM SET statement_timeout = 0",),
        ("ALTER SYSTEM SET statement_timeout = '1h'",),
        "statement_timeout = 0",
        system=True,
        reset=("statement_timeout",),
    ),
    Case(
        "durability_settings",  # fsync and full_page_writes are on: this server's -c
        ("ALTER DATABASE {db} SET zero_damaged_pages = on",),
        ("ALTER DATABASE {db} RESET zero_damaged_pages",),
        "database {db}: zero_damaged_pages = on",
        system=True,
    ),
    Case(
        "backend_parameters",  # fixed at connection start: no role or database can set them
        ("ALTER SYSTEM SET jit_profiling_support = on",),
        ("ALTER SYSTEM RESET jit_profiling_support",),
        "jit_profiling_support = on",
        system=True,
        reset=("jit_profiling_support",),
    ),
    # -- what a role or a database overrides ------------------------------------------------
    Case(
        "client_min_messages",
        (
            "ALTER SYSTEM SET client_min_messages = 'error'",
            "ALTER ROLE {r} IN DATABASE {db} SET client_min_messages = 'log'",
        ),
        ("ALTER ROLE {r} IN DATABASE {db} RESET client_min_messages",),
        "role {r} in database {db}: client_min_messages = log",
        system=True,
        reset=("client_min_messages",),
    ),
    Case(
        "session_timeouts",
        (
            "ALTER SYSTEM SET statement_timeout = '1h'",
            "ALTER DATABASE {db} SET statement_timeout = 0",
        ),
        ("ALTER DATABASE {db} RESET statement_timeout",),
        "database {db}: statement_timeout = 0",
        system=True,
        reset=("statement_timeout",),
    ),
    Case(
        "lo_compat_privileges",
        ("ALTER DATABASE {db} SET lo_compat_privileges = on",),
        ("ALTER DATABASE {db} RESET lo_compat_privileges",),
        "database {db}: lo_compat_privileges = on",
    ),
    Case(
        "dynamic_library_path",
        ("ALTER DATABASE {db} SET dynamic_library_path = '/tmp:$libdir'",),
        ("ALTER DATABASE {db} RESET dynamic_library_path",),
        "database {db}: dynamic_library_path = /tmp:$libdir",
    ),
    Case(
        "safeguards_not_disabled",
        ("ALTER ROLE {r} IN DATABASE {db} SET session_replication_role = replica",),
        ("ALTER ROLE {r} IN DATABASE {db} RESET session_replication_role",),
        "role {r} in database {db}: session_replication_role = replica",
    ),
    Case(
        "temp_space_limited",
        (),
        ("ALTER DATABASE {db} SET temp_file_limit = '10GB'",),
        "temp_file_limit = -1",
    ),
    Case(
        "pgaudit_log_read",
        (),
        ("ALTER DATABASE {db} SET pgaudit.log = 'ddl, role, read, write'",),
        "pgaudit.log = ddl, role, write",
        upgraded=True,
    ),
    Case(
        "privilege_reads_audited",
        (),
        ("ALTER DATABASE {db} SET log_statement = 'all'",),
        "log_statement = 'none'",
    ),
    # -- roles and objects ------------------------------------------------------------------
    Case(
        "server_file_roles",
        ("GRANT pg_execute_server_program TO {r}",),
        ("REVOKE pg_execute_server_program FROM {r}",),
        "role={r}, holds=pg_execute_server_program",
    ),
    Case(
        "table_public_dml",
        ("CREATE TABLE public.{t} (id int)", "GRANT INSERT, DELETE ON public.{t} TO PUBLIC"),
        ("REVOKE INSERT, DELETE ON public.{t} FROM PUBLIC",),
        "table={t}, owner=postgres, public_privileges=DELETE, INSERT",
    ),
    Case(
        "definer_public_execute",
        ("CREATE FUNCTION public.{t}() RETURNS int SECURITY DEFINER LANGUAGE sql AS 'SELECT 1'",),
        ("REVOKE EXECUTE ON FUNCTION public.{t}() FROM PUBLIC",),
        "function={t}()",
    ),
    Case(
        "rls_policies_disabled",
        ("CREATE TABLE public.{t} (id int)", "CREATE POLICY only_one ON public.{t} USING (id = 1)"),
        ("ALTER TABLE public.{t} ENABLE ROW LEVEL SECURITY",),
        "table={t}, owner=postgres, policies=1",
    ),
    Case(
        "catalog_privileges",
        ("GRANT SELECT ON pg_catalog.pg_authid TO {r}",),
        ("REVOKE SELECT ON pg_catalog.pg_authid FROM {r}",),
        "object=pg_authid, grantee={r}, privileges=SELECT",
    ),
    Case(
        "extensions_up_to_date",
        ("CREATE EXTENSION pg_stat_statements VERSION '1.4'",),
        ("ALTER EXTENSION pg_stat_statements UPDATE",),
        "extension=pg_stat_statements, version=1.4",
    ),
    Case(
        "outside_access_extensions",
        ("CREATE EXTENSION dblink",),
        ("DROP EXTENSION dblink",),
        "extension=dblink",
    ),
)


@pytest.fixture(scope="module")
def own_server(pg_server_factory: Callable[[dict[str, str]], PgServer]) -> PgServer:
    """A server of this module's own, crash-safe (fsync, full_page_writes on)."""
    return pg_server_factory(
        {"fsync": "on", "full_page_writes": "on", "cluster_name": "verify_catalog"}
    )


def _execute(dsn: str, *statements: str | sql.SQL | sql.Composed) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def reload(server: PgServer) -> None:
    """SIGHUP the server and wait until new sessions see the configuration it re-read."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_conf_load_time()").fetchone()
        assert row is not None
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            now = conn.execute("SELECT pg_conf_load_time()").fetchone()
        if now is not None and now[0] > row[0]:
            return
        time.sleep(0.05)
    raise AssertionError("the server did not reload its configuration within 10 s")


@contextmanager
def _role_and_names(dsn: str, database: str) -> Iterator[dict[str, Any]]:
    """A login role of the case's own, and the names a case's SQL is filled with."""
    role = f"a_case_{uuid.uuid4().hex[:8]}"
    _execute(dsn, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    names = {
        "r": sql.Identifier(role),
        "db": sql.Identifier(database),
        "t": sql.Identifier(f"case_{uuid.uuid4().hex[:8]}"),
    }
    try:
        yield {"role": role, **names}
    finally:
        _execute(
            dsn,
            sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)),
            sql.SQL("DROP ROLE {}").format(sql.Identifier(role)),
        )


def _one(url: URL, control_id: str) -> Result:
    report = run(url, only=[control_id])
    return report.result(control_id)


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c.control}-{'system' if c.system else 'db'}"
)
def test_a_new_control_fails_on_its_bad_state_and_passes_after_its_fix(
    case: Case, pg_database: PgDatabase, own_server: PgServer
) -> None:
    server = own_server if case.system else pg_database.server
    with server.database() if case.system else _existing(pg_database.url) as url:
        dsn = libpq_dsn(url)
        if case.upgraded:
            upgrade(url)
        with _role_and_names(dsn, str(url.database)) as names:
            plain = {k: (v.as_string(None) if k != "role" else v) for k, v in names.items()}
            plain = {k: v.strip('"') for k, v in plain.items()}
            try:
                _apply(server, dsn, case, case.seed, names)
                bad = _one(url, case.control)
                _apply(server, dsn, case, case.fix, names)
                good = _one(url, case.control)
            finally:
                if case.reset:
                    _execute(
                        server.dsn,
                        *(
                            sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(p))
                            for p in case.reset
                        ),
                    )
                    reload(server)
    assert bad.status is Status.FAIL, bad.detail
    expected = case.names.format(r=plain["role"], db=plain["db"], t=plain["t"])
    assert expected in bad.detail, bad.detail
    assert good.status is Status.PASS, good.detail


@contextmanager
def _existing(url: URL) -> Iterator[URL]:
    yield url


def _apply(
    server: PgServer, dsn: str, case: Case, statements: tuple[str, ...], names: dict[str, Any]
) -> None:
    parts = {k: v for k, v in names.items() if k != "role"}
    _execute(dsn, *(sql.SQL(s).format(**parts) for s in statements))
    if case.system and any("ALTER SYSTEM" in s for s in statements):
        reload(server)


# --- what only some servers show ---------------------------------------------------------------


def test_durability_settings_fail_on_a_server_without_fsync(pg_database: PgDatabase) -> None:
    # The shared test server runs with fsync and full_page_writes off (speed over safety).
    result = _one(pg_database.url, "durability_settings")
    assert result.status is Status.FAIL
    assert "fsync = off (source: command line), expected on" in result.detail
    assert "full_page_writes = off" in result.detail


def test_server_version_supported_fails_once_the_release_is_past_its_end_of_life(
    pg_database: PgDatabase,
) -> None:
    control = get("server_version_supported")
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        today = evaluate(conn, control, {})
        later = evaluate(conn, replace(control, args=(("as_of", "2030-01-01"),)), {})
    assert today.status is Status.PASS, today.detail
    assert "supported until" in today.detail
    assert later.status is Status.FAIL, later.detail
    assert "support ended 20" in later.detail


def test_superuser_login_fails_for_a_login_superuser_and_a_member_of_one(
    own_server: PgServer,
) -> None:
    """With postgres NOLOGIN (its open session goes on) and no other superuser, only a login
    role granted a superuser role is a finding; revoking it passes."""
    auditor, password = f"a_auditor_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    member = f"a_member_{uuid.uuid4().hex[:8]}"
    names = {"a": sql.Identifier(auditor), "m": sql.Identifier(member)}
    with own_server.database() as url, psycopg.connect(own_server.dsn, autocommit=True) as admin:
        for statement in (
            "CREATE ROLE {a} LOGIN PASSWORD {pw}",
            "CREATE ROLE {m} LOGIN",
        ):
            admin.execute(sql.SQL(statement).format(pw=sql.Literal(password), **names))
        as_auditor = url.set(username=auditor, password=password)
        try:
            login_superuser = _one(as_auditor, "superuser_login")
            admin.execute("ALTER ROLE postgres NOLOGIN")
            admin.execute(sql.SQL("GRANT postgres TO {m}").format(**names))
            member_of_one = _one(as_auditor, "superuser_login")
            admin.execute(sql.SQL("REVOKE postgres FROM {m}").format(**names))
            nobody = _one(as_auditor, "superuser_login")
        finally:
            admin.execute("ALTER ROLE postgres LOGIN")
            for role in (member, auditor):
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert login_superuser.status is Status.FAIL
    assert {"role": "postgres", "how": "is a superuser that can log in"} in login_superuser.evidence
    assert member_of_one.evidence == [{"role": member, "how": "is a member of superuser postgres"}]
    assert nobody.status is Status.PASS, nobody.detail


# --- pg_hba.conf: read from the file, so an open session judges a file it would not reload -----


@contextmanager
def _hba_file(server: PgServer, lines: tuple[str, ...]) -> Iterator[psycopg.Connection[Any]]:
    """``server``'s pg_hba.conf holding ``lines`` (not reloaded), then its own bytes again."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('hba_file')").fetchone()
        assert row is not None
        hba_file = str(row[0])
        row = conn.execute("SELECT pg_read_binary_file(%s)", (hba_file,)).fetchone()
        assert row is not None
        original = bytes(row[0])
        _write_file(conn, hba_file, "\n".join(lines).encode() + b"\n")
        try:
            yield conn
        finally:
            _write_file(conn, hba_file, original)


def _write_file(conn: psycopg.Connection[Any], path: str, content: bytes) -> None:
    """Write ``content`` to the server's file ``path`` byte for byte (a large object export)."""
    row = conn.execute("SELECT lo_from_bytea(0, %s)", (content,)).fetchone()
    assert row is not None
    conn.execute("SELECT lo_export(%s, %s)", (row[0], path))
    conn.execute("SELECT lo_unlink(%s)", (row[0],))


HBA_STATES = {
    # control: (lines that fail it, a line the finding names, lines that pass it)
    "hba_all_databases_users": (
        ("local all all peer", "hostssl all all 10.0.0.0/8 scram-sha-256"),
        "line=2, type=hostssl, database=all, user_name=all, address=10.0.0.0/8",
        ("local all all peer", "hostssl app +app_users 10.0.0.0/8 scram-sha-256"),
    ),
    "hba_external_auth": (
        ("local all all reject", "hostssl all all 10.0.0.0/8 scram-sha-256"),
        "line=2, type=hostssl, database=all, user_name=all, address=10.0.0.0/8, method=scram",
        ("local all all reject", "hostssl all all 10.0.0.0/8 cert", "host all all ::1/128 gss"),
    ),
    "hba_weak_methods": (
        ("local all all peer", "host all all 10.0.0.0/8 ident"),
        "line=2, type=host, database=all, user_name=all, address=10.0.0.0/8, method=ident",
        ("local all all peer", "hostssl all all 10.0.0.0/8 scram-sha-256"),
    ),
}


@pytest.mark.parametrize("control_id", sorted(HBA_STATES))
def test_a_pg_hba_control_fails_on_its_rules_and_passes_on_the_fixed_file(
    own_server: PgServer, control_id: str
) -> None:
    bad_lines, finding, good_lines = HBA_STATES[control_id]
    control = get(control_id)
    with _hba_file(own_server, bad_lines) as conn:
        bad = evaluate(conn, control, {})
    with _hba_file(own_server, good_lines) as conn:
        good = evaluate(conn, control, {})
    assert bad.status is Status.FAIL
    assert finding in bad.detail, bad.detail
    assert good.status is Status.PASS, good.detail


def test_pki_client_certificates_pass_with_a_ca_a_crl_and_a_certificate_rule(
    own_server: PgServer,
) -> None:
    control = get("pki_client_certificates")
    lines = ("local all all peer", "hostssl all all 10.0.0.0/8 scram-sha-256")
    with _hba_file(own_server, lines) as conn:
        bad = evaluate(conn, control, {})
    assert bad.status is Status.FAIL
    assert "missing: ssl_ca_file" in bad.detail, bad.detail
    _execute(
        own_server.dsn,
        "ALTER SYSTEM SET ssl_ca_file = '/etc/pg-hardening/server.crt'",
        "ALTER SYSTEM SET ssl_crl_dir = '/etc/ssl/certs'",
    )
    reload(own_server)
    try:
        with _hba_file(own_server, (*lines, "hostssl all all 10.0.0.0/8 cert")) as conn:
            good = evaluate(conn, control, {})
    finally:
        _execute(own_server.dsn, "ALTER SYSTEM RESET ssl_ca_file", "ALTER SYSTEM RESET ssl_crl_dir")
        reload(own_server)
    assert good.status is Status.PASS, good.detail


# --- parameters read at server start: fixed, then restarted ------------------------------------


def test_start_time_parameters_fail_as_shipped_and_pass_after_a_restart_with_their_fix(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "verify_restart"})
    container = getattr(server.stop, "__self__", None)
    if server.backend != "docker" or container is None:
        pytest.skip("restarting the server needs the docker backend")
    start_time = ("listen_addresses", "unix_socket_permissions", "wal_archiving")
    before = run(server.url, only=start_time)  # the server is this test's own: its postgres db
    # the container's host name, not its address: docker may give a restarted container a new
    # address, and /etc/hosts follows it
    hostname = container.get_wrapped_container().attrs["Config"]["Hostname"]
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for statement in (
            sql.SQL("ALTER SYSTEM SET listen_addresses = {}").format(
                sql.Literal(f"localhost, {hostname}")
            ),
            sql.SQL("ALTER SYSTEM SET unix_socket_permissions = '0770'"),
            sql.SQL("ALTER SYSTEM SET archive_mode = on"),
            sql.SQL("ALTER SYSTEM SET archive_command = '/bin/true'"),
        ):
            conn.execute(statement)
    container.get_wrapped_container().restart(timeout=30)
    # docker publishes the restarted server on a new port: the fixture's server follows it
    server.url = server.url.set(port=int(container.get_exposed_port(5432)))
    _wait_for(server.url)
    after = run(server.url, only=start_time)
    assert {r.control.id: r.status for r in before.results} == dict.fromkeys(
        start_time, Status.FAIL
    )
    assert "listen_addresses = *" in before.result("listen_addresses").detail
    assert "unix_socket_permissions = 0777" in before.result("unix_socket_permissions").detail
    assert "archive_mode = off" in before.result("wal_archiving").detail
    assert {r.control.id: r.status for r in after.results} == dict.fromkeys(
        start_time, Status.PASS
    ), [r.detail for r in after.results]


def _wait_for(url: URL) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(libpq_dsn(url), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
