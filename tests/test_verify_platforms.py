"""Managed services: a test server given a service's markers (the service's roles, created
here; its settings, as placeholders on the command line or per database; Aurora's function)
is recognised, the controls the service makes impossible or does itself are not applicable,
naming what to check instead, findings about the service's own roles are left out, and only
failures count in the exit code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from hardening import cli
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from hardening.verify import Status, run
from hardening.verify.platforms import SERVICES

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Markers:
    """What a test server shows of one service.

    ``roles``: created (cluster-wide) for the test, the first one a login role of the
    service's own; ``database``: SQL run in the test's database; ``on_rds_server``: the test
    runs on the server started with RDS's placeholder settings, else on the shared one.
    """

    roles: tuple[str, ...]
    database: tuple[str, ...] = ()
    on_rds_server: bool = False
    shown: tuple[str, ...] = ()


MARKERS = {
    "rds": Markers(
        ("rdsadmin", "rds_superuser"),
        on_rds_server=True,
        shown=("role rds_superuser", "role rdsadmin", "setting rds.force_ssl"),
    ),
    "aurora": Markers(
        ("rdsadmin", "rds_superuser"),
        ("CREATE FUNCTION public.aurora_version() RETURNS text LANGUAGE sql AS $$SELECT '16.4'$$",),
        on_rds_server=True,
        shown=("function aurora_version",),
    ),
    "cloudsql": Markers(
        ("cloudsqladmin", "cloudsqlsuperuser"),
        ("ALTER DATABASE {db} SET cloudsql.iam_authentication = on",),
        shown=("role cloudsqladmin", "setting cloudsql.iam_authentication"),
    ),
    "azure": Markers(
        ("azuresu", "azure_pg_admin"),
        ("ALTER DATABASE {db} SET azure.extensions = 'pgaudit'",),
        shown=("role azure_pg_admin", "setting azure.extensions"),
    ),
}


@pytest.fixture(scope="module")
def rds_server(pg_server_factory: Callable[[dict[str, str]], PgServer]) -> PgServer:
    """A server started with RDS's own settings, which PostgreSQL keeps as placeholders."""
    return pg_server_factory({"rds.force_ssl": "1", "rds.extensions": "pgaudit"})


def _execute(dsn: str, *statements: sql.Composable | str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement if isinstance(statement, str) else statement.as_string(conn))


@contextmanager
def _service(name: str, pg_server: PgServer, rds_server: PgServer) -> Iterator[URL]:
    """A fresh database on a server showing ``name``'s markers; the roles are dropped after."""
    markers = MARKERS[name]
    server = rds_server if markers.on_rds_server else pg_server
    with server.database() as url:
        dsn = libpq_dsn(url)
        own, *others = (sql.Identifier(r) for r in markers.roles)
        _execute(
            dsn,
            sql.SQL("CREATE ROLE {} LOGIN").format(own),
            *(sql.SQL("CREATE ROLE {} NOLOGIN").format(r) for r in others),
            *(sql.SQL(s).format(db=sql.Identifier(str(url.database))) for s in markers.database),
        )
        try:
            yield url
        finally:
            _execute(
                dsn,
                *(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)) for r in markers.roles),
                *(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)) for r in markers.roles),
            )


def test_a_server_of_ones_own_shows_no_service(pg_database: PgDatabase) -> None:
    report = run(pg_database.url, only=["hba_host_without_ssl", "wal_archiving"])
    assert report.platform is None
    assert Status.NOT_APPLICABLE not in {r.status for r in report.results}
    assert report.exit_code == 1  # the test image admits host connections without TLS


@pytest.mark.parametrize("name", sorted(MARKERS))
def test_a_service_is_recognised_and_its_controls_are_not_applicable_naming_what_to_check(
    name: str, pg_server: PgServer, rds_server: PgServer
) -> None:
    handled = SERVICES[name].handled
    with _service(name, pg_server, rds_server) as url:
        report = run(url, only=[*handled, "password_encryption", "ssl_on"])
    assert report.platform is not None
    assert report.platform.name == name
    assert set(MARKERS[name].shown) <= set(report.platform.markers), report.platform.markers
    for control_id, how in handled.items():
        result = report.result(control_id)
        assert result.status is Status.NOT_APPLICABLE, (control_id, result.detail)
        assert result.detail == f"{how.reason}; check instead: {how.instead}" + (
            f" (now {how.show} = {result.evidence[0][how.show] or 'not shown'})" if how.show else ""
        )
    # what the service leaves to its customer is judged as anywhere else
    assert report.result("password_encryption").status is Status.PASS
    assert report.result("ssl_on").status is Status.PASS
    assert report.exit_code == 0
    assert report.counts()["not_applicable"] == len(handled)


def test_on_rds_the_tls_control_shows_the_services_own_setting(
    pg_server: PgServer, rds_server: PgServer
) -> None:
    with _service("rds", pg_server, rds_server) as url:
        result = run(url, only=["hba_host_without_ssl"]).result("hba_host_without_ssl")
    assert result.status is Status.NOT_APPLICABLE
    assert result.detail.endswith(
        "check instead: the DB parameter group's rds.force_ssl = 1 (now rds.force_ssl = 1)"
    )
    assert result.evidence == [
        {
            "platform": "rds",
            "instead": "the DB parameter group's rds.force_ssl = 1",
            "rds.force_ssl": "1",
        }
    ]


@pytest.mark.parametrize("name", sorted(MARKERS))
def test_findings_about_the_services_own_roles_are_left_out_and_a_customers_are_not(
    name: str, pg_server: PgServer, rds_server: PgServer
) -> None:
    own = MARKERS[name].roles[0]
    with _service(name, pg_server, rds_server) as url:
        grant = "GRANT pg_read_server_files TO {}"
        _execute(libpq_dsn(url), sql.SQL(grant).format(sql.Identifier(own)))
        theirs = run(url, only=["server_file_roles"]).result("server_file_roles")
        _execute(
            libpq_dsn(url),
            "CREATE ROLE a_platform_customer LOGIN",
            "GRANT pg_read_server_files TO a_platform_customer",
        )
        try:
            mine = run(url, only=["server_file_roles"]).result("server_file_roles")
        finally:
            _execute(libpq_dsn(url), "DROP ROLE a_platform_customer")
    assert theirs.status is Status.PASS, theirs.detail
    assert theirs.detail == f"no findings (1 about {name}'s own roles left out)"
    assert mine.status is Status.FAIL
    assert mine.evidence == [{"role": "a_platform_customer", "holds": "pg_read_server_files"}]


def test_the_exit_code_and_every_format_count_not_applicable_apart_from_failures(
    pg_server: PgServer, rds_server: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    only = ("--only", "hba_host_without_ssl,wal_archiving,logging_collector")
    with _service("azure", pg_server, rds_server) as url:
        dsn = libpq_dsn(url)
        text_code = cli.main(["verify", "--url", dsn, *only])
        text, _ = capsys.readouterr()
        json_code = cli.main(["verify", "--url", dsn, *only, "--format", "json"])
        report, _ = capsys.readouterr()
        cli.main(["verify", "--url", dsn, *only, "--format", "junit"])
        junit, _ = capsys.readouterr()
    assert (text_code, json_code) == (0, 0)
    assert "on azure: role azure_pg_admin" in " ".join(text.split())
    assert text.count("N/A") >= 3
    assert "3 not applicable" in text
    document = json.loads(report)
    schema = json.loads((ROOT / "docs/verify-report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)
    assert document["target"]["platform"]["name"] == "azure"
    assert document["summary"]["not_applicable"] == 3
    assert document["summary"]["fail"] == 0
    assert 'skipped="3"' in junit
    assert 'failures="0"' in junit
