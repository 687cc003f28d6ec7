"""The test harness itself: every backend gives a real PostgreSQL with pgaudit, TLS and SCRAM."""

from __future__ import annotations

import psycopg
import pytest

from hardening.settings import libpq_dsn
from hardening.testing import LogCursor, PgServer, Provisioner, ServerStartError
from hardening.testing.plugin import PgDatabase


def test_server_reports_the_requested_major_version(
    pg_server: PgServer, request: pytest.FixtureRequest
) -> None:
    with psycopg.connect(pg_server.dsn) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone() or ("",)
    assert int(version) // 10000 == int(request.config.getoption("--pg-version"))


def test_pgaudit_is_preloaded(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.dsn) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert row is not None
    assert "pgaudit" in [lib.strip() for lib in row[0].split(",")]


def test_database_is_utf8_and_fresh(pg_database: PgDatabase) -> None:
    with psycopg.connect(pg_database.dsn) as conn:
        enc = conn.execute("SHOW server_encoding").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert enc == ("UTF8",)
    assert tables == (0,)


def test_ddl_produces_a_pgaudit_line_in_the_server_log(
    pg_database: PgDatabase, pg_log: LogCursor
) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgaudit")
        conn.execute("SET pgaudit.log = 'ddl'")
        conn.execute("CREATE TABLE harness_canary (id int)")
    lines = pg_log.wait_for(r"AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE")
    assert any("harness_canary" in line for line in lines)


def test_tls_connection_is_encrypted(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.dsn, sslmode="require") as conn:
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    assert row[0] is True
    assert row[1].startswith("TLSv1.")


def test_wrong_password_is_refused(pg_server: PgServer) -> None:
    bad = pg_server.url.set(password="not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(libpq_dsn(bad))


def test_server_uses_scram_verifiers(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.dsn) as conn:
        row = conn.execute(
            "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = current_user"
        ).fetchone()
    assert row == ("SCRAM-SHA-256$",)


def test_a_server_without_pgaudit_is_available(
    pg_server_factory: object, pg_server: PgServer
) -> None:
    assert callable(pg_server_factory)
    plain: PgServer = pg_server_factory({"shared_preload_libraries": ""})
    assert plain.url != pg_server.url
    with psycopg.connect(plain.dsn, autocommit=True) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert row is not None
        assert "pgaudit" not in row[0]
        with pytest.raises(psycopg.Error, match="shared_preload_libraries"):
            conn.execute("CREATE EXTENSION pgaudit")


def test_a_server_that_cannot_start_fails_at_once_with_its_log(
    pg_provisioner: Provisioner,
) -> None:
    with pytest.raises(ServerStartError, match="no_such_library"):
        pg_provisioner.server({"shared_preload_libraries": "no_such_library"})


def test_a_server_can_append_its_stderr_to_a_file_as_pg_ctl_l_does(
    pg_provisioner: Provisioner,
) -> None:
    # logging_collector off: each server process writes its own lines into that file
    server = pg_provisioner.server({"logging_collector": "off"}, stderr_file=True)
    assert server.stderr_file is not None
    cursor = server.log_cursor()
    size = "SELECT size FROM pg_stat_file(%s)"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        before = conn.execute(size, (server.stderr_file,)).fetchone()
        conn.execute("DO $$ BEGIN RAISE LOG 'stderr file canary'; END $$")
        after = conn.execute(size, (server.stderr_file,)).fetchone()
    assert cursor.wait_for("stderr file canary")  # read_log reads that file
    assert before is not None
    assert after is not None
    assert after[0] > before[0]


def test_the_log_cursor_only_sees_lines_after_its_mark(pg_server: PgServer) -> None:
    before = pg_server.log_cursor()
    text = before.settle("pg-hardening-mark-one")
    after = pg_server.log_cursor()
    assert "pg-hardening-mark-one" in text
    assert "pg-hardening-mark-one" not in after.settle("pg-hardening-mark-two")


def test_libpq_uris_survive_any_character_in_user_password_and_database() -> None:
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL, make_url

    from hardening.settings import libpq_dsn

    hostile = "a b%c@d:e/f?g#h&i='j"
    url = URL.create(
        "postgresql+psycopg",
        username=hostile,
        password=hostile,
        host="127.0.0.1",
        port=5432,
        database=hostile,
        query={"sslmode": "require"},
    )
    dsn = libpq_dsn(url)
    parts = conninfo_to_dict(dsn)
    assert (parts["user"], parts["password"], parts["dbname"]) == (hostile, hostile, hostile)
    assert parts["sslmode"] == "require"
    back = make_url(dsn)
    assert (back.username, back.password, back.database) == (hostile, hostile, hostile)


def test_the_extensions_the_kit_relies_on_are_available(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.dsn) as conn:
        rows = conn.execute(
            "SELECT name FROM pg_available_extensions "
            "WHERE name IN ('pgaudit', 'pgcrypto', 'set_user') ORDER BY name"
        ).fetchall()
    assert [r[0] for r in rows] == ["pgaudit", "pgcrypto", "set_user"]
