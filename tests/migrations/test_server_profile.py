"""The server profile (step h008, server_profile=on): ALTER SYSTEM cluster-wide and outside
the run's transaction, so every value is checked first, a failure midway leaves nothing of it,
and asking for it at head is refused with the sequence that applies it. Each test that
changes it runs on a server of its own."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from hardening import migrate, sqlfiles
from hardening.errors import HardeningError
from hardening.profile import wanted
from hardening.settings import libpq_dsn
from hardening.steps import server_profile
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import (
    alembic_cli,
    exit_message,
    give_database,
    printed_commands,
    version_num,
)
from tests.roles import execute, unique_roles


def test_server_profile_sets_logging_and_tls_and_downgrade_restores_prior_values(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # ALTER SYSTEM is cluster-wide: a server of this test's own.
    server = pg_server_factory({"log_min_messages": "warning"})
    execute(server.dsn, "ALTER SYSTEM SET log_statement = 'mod'", "SELECT pg_reload_conf()")
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        migrate.upgrade(url, "h007_log_hygiene", **unique_roles())
        migrate.upgrade(url, "head", server_profile="on")
        with psycopg.connect(dsn) as conn:
            shown = {
                name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                for name in ("log_connections", "log_statement", "ssl_min_protocol_version")
            }
            prefix = conn.execute("SHOW log_line_prefix").fetchone()
        assert shown == {
            "log_connections": ("on",),
            "log_statement": ("ddl",),
            "ssl_min_protocol_version": ("TLSv1.3",),
        }
        assert prefix is not None
        assert all(escape in prefix[0] for escape in ("%m", "%p", "%d", "%u", "%a", "%h"))
        migrate.downgrade(url, "base", server_profile="on")
        assert diff(before, snapshot(dsn)) == {}
        assert ("log_statement", "mod") in before["system_settings"]


def test_profile_values_verify_passes_are_applied_as_the_server_spells_them(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    from hardening.verify import run

    server = pg_server_factory({"cluster_name": "profile_verified"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        migrate.upgrade(
            url,
            "head",
            server_profile="on",
            server_ssl_min_protocol_version="tlsv1.2",
            server_log_statement="MOD",
            **unique_roles(),
        )
        for _ in range(50):  # pg_reload_conf() signals the postmaster: wait for new sessions
            report = run(url, only=["ssl_min_protocol_version", "log_statement"])
            statuses = sorted((r.control.id, str(r.status)) for r in report.results)
            if statuses == [("log_statement", "pass"), ("ssl_min_protocol_version", "pass")]:
                break
            time.sleep(0.1)
        assert statuses == [("log_statement", "pass"), ("ssl_min_protocol_version", "pass")], [
            r.detail for r in report.results
        ]
        migrate.downgrade(url, "base")
        assert diff(before, snapshot(dsn)) == {}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "server_ssl_min_protocol_version",
            "TLSv9",
            "ssl_min_protocol_version expects one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3",
        ),
        ("server_log_statement", "verbose", "log_statement expects one of none, ddl, mod, all"),
        # Values the server takes but `hardening verify` fails: refused with verify's reason.
        (
            "server_ssl_min_protocol_version",
            "TLSv1",
            "the verify control ssl_min_protocol_version requires that ssl_min_protocol_version "
            "is TLSv1.2 or later: TLS 1.0 and 1.1 are deprecated",
        ),
        (
            "server_ssl_min_protocol_version",
            "tlsv1.1",
            "requires that ssl_min_protocol_version is TLSv1.2 or later",
        ),
        (
            "server_log_statement",
            "none",
            "the verify control log_statement requires that log_statement records at least DDL",
        ),
        (
            "server_log_line_prefix",
            "%m [%p] %%u ",
            "missing: user (%u), database (%d), client address (%h or %r)",
        ),
        ("server_log_line_prefix", "%m [%p] %u@%d %h\nforged line ", "must be one line"),
    ],
)
def test_an_invalid_server_profile_value_is_named_and_nothing_changes(
    pg_server_factory: Callable[[dict[str, str]], PgServer], name: str, value: str, expected: str
) -> None:
    # ALTER SYSTEM runs one setting at a time outside the transaction: every value must be
    # checked before the run commits, or a refused one leaves the others applied.
    server = pg_server_factory({"cluster_name": "profile_refusals"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)  # includes postgresql.auto.conf
        proc = alembic_cli(
            "-x", "server_profile=on", "-x", f"{name}={value}", "upgrade", "head", dsn=dsn
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
        assert len(errors) == 1, proc.stderr
        assert f"setting {name}" in errors[0]
        assert expected in errors[0]
        assert diff(before, snapshot(dsn)) == {}
        assert version_num(dsn) is None


@pytest.mark.parametrize(
    "prefix",
    [
        "%m [%p] %q%u@%d app=%a client=%h ",  # the default
        "%m [%p]: user=%u,db=%d,app=%a,client=%h ",  # verify's fix text
        "%t %c %u %d %r ",
        "%n-%-10p %10u %d %h ",
        "%m [%p] ",
        "%m [%p] %u@%d ",
        "%u %d %h ",
        "%m [%p] %%u@%d %h ",  # %% is a literal percent sign: no user
        "100%% %m [%p] %u@%d %%%h ",
        "",
    ],
)
def test_the_profile_refuses_exactly_the_log_line_prefixes_verify_fails(
    pg_database: PgDatabase, prefix: str
) -> None:
    # A prefix the server profile sets must pass `hardening verify`, and one it refuses must
    # fail there: sql/checks/log_line_prefix.sql judges the server's own log_line_prefix, here
    # it judges `prefix` instead.
    with psycopg.connect(pg_database.dsn) as conn:
        check = sqlfiles.load("checks/log_line_prefix.sql").replace(
            "current_setting('log_line_prefix')", sql.Literal(prefix).as_string(conn)
        )
        row = conn.execute(check).fetchone()
    assert row is not None
    assert row[0] == (not server_profile.log_line_prefix_missing(prefix)), row[1]


def test_server_profile_values_with_quotes_are_rendered_safely(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "profile_quotes"})
    prior = "it's %m [%p] %u %d %h \\ "
    execute(
        server.dsn,
        sql.SQL("ALTER SYSTEM SET log_line_prefix = {}").format(sql.Literal(prior)),
        "SELECT pg_reload_conf()",
    )
    prefix = "%m [%p] %q%u@%d app=%a client=%h 'x'; SELECT 1; -- \"d\" \\ "
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        assert ("log_line_prefix", prior) in before["system_settings"]
        migrate.upgrade(url, "head", server_profile="on", server_log_line_prefix=prefix)
        # h008 writes it as given; h011 adds the escapes CIS and the STIG ask for
        completed = wanted.complete_prefix(prefix)
        assert completed.startswith(prefix.rstrip())
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW log_line_prefix").fetchone() == (completed,)
        assert ("log_line_prefix", completed) in snapshot(dsn)["system_settings"]
        migrate.downgrade(url, "base")
        assert diff(before, snapshot(dsn)) == {}
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW log_line_prefix").fetchone() == (prior,)


def test_an_alter_system_failing_midway_leaves_nothing_of_the_profile(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # Everything the kit can check passes; the server then fails to write postgresql.auto.conf
    # (its temporary file's name is taken by a directory). The run was committed up to h007
    # before ALTER SYSTEM: the profile's changes are put back and its records removed, so the
    # database is at h007 exactly as before, and can go down, or up once the cause is gone.
    server = pg_server_factory({"cluster_name": "profile_midway"})
    with psycopg.connect(server.dsn) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    blocker = f"{row[0]}/postgresql.auto.conf.tmp"
    roles = unique_roles()
    with server.database() as url:
        dsn = libpq_dsn(url)
        base = snapshot(dsn)
        migrate.upgrade(url, "h007_log_hygiene", **roles)
        at_h007 = snapshot(dsn)
        # the program reads the row first: one that exits before the server has written it
        # makes COPY fail with "could not close pipe to external command: Broken pipe"
        copy = "COPY (SELECT 1) TO PROGRAM {}"
        execute(dsn, sql.SQL(copy).format(sql.Literal(f"cat >/dev/null; mkdir '{blocker}'")))
        try:
            with pytest.raises(HardeningError) as exc:
                migrate.upgrade(url, "head", server_profile="on")
        finally:
            execute(dsn, sql.SQL(copy).format(sql.Literal(f"cat >/dev/null; rmdir '{blocker}'")))
        message = exit_message(exc)
        assert "step h008_server_profile stopped at ALTER SYSTEM SET log_connections" in message
        assert "postgresql.auto.conf.tmp" in message  # the server's reason
        assert diff(at_h007, snapshot(dsn)) == {}
        assert version_num(dsn) == [("h007_log_hygiene",)]
        with psycopg.connect(dsn) as conn:
            assert conn.execute(
                "SELECT count(*) FROM hardening.applied WHERE step = 'h008_server_profile'"
            ).fetchone() == (0,)
        migrate.upgrade(url, "head", server_profile="on")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW log_connections").fetchone() == ("on",)
        migrate.downgrade(url, "base", **roles)
        assert diff(base, snapshot(dsn)) == {}


def test_server_profile_asked_for_at_head_is_not_ignored_and_the_documented_sequence_applies_it(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # Alembic never runs an applied step again: at head, server_profile=on (or off) cannot be
    # followed by `upgrade head` alone. The run says so, with the sequence docs/migrations.md
    # gives, and that sequence sets (and removes) the profile.
    server = pg_server_factory({"cluster_name": "profile_late"})

    def shown(dsn: str) -> dict[str, str]:
        values = {}
        with psycopg.connect(dsn) as conn:
            for name in ("log_connections", "log_statement", "ssl_min_protocol_version"):
                row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                assert row is not None
                values[name] = str(row[0])
        return values

    def refused(proc: subprocess.CompletedProcess[str]) -> str:
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]
        assert len(errors) == 1, proc.stderr
        return errors[0]

    with server.database() as url:
        dsn = libpq_dsn(url)
        base = snapshot(dsn)
        migrate.upgrade(url, "head", **unique_roles())
        plain, plain_shown = snapshot(dsn), shown(dsn)
        assert plain_shown["log_statement"] == "none"

        error = refused(alembic_cli("-x", "server_profile=on", "upgrade", "head", dsn=dsn))
        assert "server_profile=on, but step h008_server_profile was applied earlier" in error
        assert (
            "To set it: alembic downgrade h007_log_hygiene, then "
            "alembic -x server_profile=on upgrade head"
        ) in error
        assert diff(plain, snapshot(dsn)) == {}

        for args in printed_commands(error.split("To set it: ", 1)[1]):  # run as printed
            proc = alembic_cli(*args, dsn=dsn)
            assert proc.returncode == 0, proc.stderr
        assert shown(dsn) == {
            "log_connections": "on",
            "log_statement": "ddl",
            "ssl_min_protocol_version": "TLSv1.3",
        }
        profiled = snapshot(dsn)
        proc = alembic_cli("upgrade", "head", dsn=dsn)  # the default (off) is no request
        assert proc.returncode == 0, proc.stderr

        error = refused(alembic_cli("-x", "server_profile=off", "upgrade", "head", dsn=dsn))
        assert (
            "To remove it: alembic downgrade h007_log_hygiene, then "
            "alembic -x server_profile=off upgrade head"
        ) in error
        assert diff(profiled, snapshot(dsn)) == {}
        for args in printed_commands(error.split("To remove it: ", 1)[1]):
            proc = alembic_cli(*args, dsn=dsn)
            assert proc.returncode == 0, proc.stderr
        assert diff(plain, snapshot(dsn)) == {}
        assert shown(dsn) == plain_shown
        migrate.downgrade(url, "base")
        assert diff(base, snapshot(dsn)) == {}


def test_server_profile_is_refused_without_superuser(
    pg_database: PgDatabase, login_role: Callable[..., str]
) -> None:
    owner = login_role("CREATEROLE")
    give_database(pg_database, owner)
    before = snapshot(pg_database.dsn)
    as_owner = pg_database.url.set(username=owner, password=owner)
    migrate.upgrade(as_owner, "h004_least_privilege", **unique_roles())
    with pytest.raises(HardeningError) as exc:
        migrate.upgrade(as_owner, "head", server_profile="on")
    assert "needs SUPERUSER" in exit_message(exc)
    migrate.downgrade(as_owner, "base")
    assert diff(before, snapshot(pg_database.dsn)) == {}


def test_server_profile_is_refused_where_allow_alter_system_is_off(
    pg_server: PgServer, pg_server_factory: Callable[[dict[str, str]], PgServer]
) -> None:
    if pg_server.version < 17:
        pytest.skip(
            f"allow_alter_system exists from PostgreSQL 17 (this is {pg_server.version}): "
            "ALTER SYSTEM cannot be turned off, and the server profile tests above cover the "
            "check passing"
        )
    server = pg_server_factory({"allow_alter_system": "off"})
    with server.database() as url:
        dsn = libpq_dsn(url)
        before = snapshot(dsn)
        with pytest.raises(HardeningError) as exc:
            migrate.upgrade(url, "head", server_profile="on", **unique_roles())
        message = exit_message(exc)
        assert "step h008_server_profile uses ALTER SYSTEM" in message
        assert "allow_alter_system = off" in message
        assert "leave server_profile=off" in message  # the hint: what to do instead
        # One transaction up to the check: steps h001-h007 rolled back with it, and no
        # ALTER SYSTEM ran (postgresql.auto.conf is part of the snapshot).
        assert diff(before, snapshot(dsn)) == {}
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT to_regclass('hardening_version')").fetchone() == (None,)
            assert conn.execute("SHOW log_statement").fetchone() == ("none",)
