"""`hardening verify`: a catalog of controls evaluated over a plain SQL connection, before and
after the kit's migrations, as a superuser and as an ordinary role, in four formats."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from hardening import cli
from hardening.migrate import upgrade
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from hardening.verify import CONTROLS, PROBES, Report, Status, VerifyError, run, to_dict
from hardening.verify.controls import get as control_by_id

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parents[1] / "docs"

# Database-level controls the kit's upgrade fixes: they fail on any fresh database (roles
# are cluster-wide, so role-existence controls may already pass after an earlier test).
FIXED_BY_UPGRADE = {
    "pgaudit_installed",
    "pgaudit_log_classes",
    "pgaudit_role_nologin",
    "pgaudit_log_relation",
    "pgaudit_log_catalog_off",
    "log_parameter_max_length",
    "database_public_connect",
    "database_public_temp",
    "pgcrypto_installed",
    "password_policy_installed",
    "group_roles_default_privileges",
}


def statuses(report: Report) -> dict[str, str]:
    return {r.control.id: r.status.value for r in report.results}


def verify_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ordinary_role(pg_database: PgDatabase) -> Iterator[tuple[str, str]]:
    """A LOGIN role without any special attribute that may connect to ``pg_database``."""
    name, password = f"verify_user_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT 5 VALID UNTIL 'tomorrow'"
            ).format(sql.Identifier(name), sql.Literal(password))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(pg_database.name), sql.Identifier(name)
            )
        )
    yield name, password
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


# --- before and after the kit's migrations -------------------------------------------------------


def test_before_upgrade_verify_fails_and_lists_what_the_kit_fixes(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = verify_cli(capsys, "--url", str(pg_database.dsn), "--scope", "kit")
    assert code == 1
    report = run(pg_database.url, scope="kit")
    failed = {r.control.id for r in report.failed}
    assert failed >= FIXED_BY_UPGRADE
    assert all(r.control.scope == "kit" for r in report.results)
    for control_id in FIXED_BY_UPGRADE:
        assert control_id in out
    assert "How to fix what failed" in out


def test_after_upgrade_every_kit_control_passes(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(pg_database.url)
    report = run(pg_database.url, scope="kit")
    not_passing = {r.control.id: r.detail for r in report.results if r.status is not Status.PASS}
    assert not_passing == {}
    assert len(report.results) == len([c for c in CONTROLS if c.scope == "kit"])
    code, out, _ = verify_cli(capsys, "--url", pg_database.dsn, "--scope", "kit")
    assert code == 0
    assert "0 failed" in out


def test_any_failing_control_makes_the_exit_status_1_even_after_upgrade(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(pg_database.url)
    # The test image logs to stderr without the collector: a server-scope failure.
    code, out, _ = verify_cli(capsys, "--url", pg_database.dsn, "--only", "logging_collector")
    assert code == 1
    assert "FAIL" in out
    code, _, _ = verify_cli(
        capsys,
        "--url",
        pg_database.dsn,
        "--only",
        "logging_collector,ssl_on",
        "--skip",
        "logging_collector",
    )
    assert code == 0


# --- pgaudit no longer loaded ---------------------------------------------------------------------

PGAUDIT_SETTING_CONTROLS = (
    "pgaudit_log_classes",
    "pgaudit_not_silenced",
    "pgaudit_log_parameter_off",
    "pgaudit_role_nologin",
    "pgaudit_log_relation",
    "pgaudit_log_catalog_off",
)


def _restart_without_pgaudit(server: PgServer) -> URL:
    """Take pgaudit out of ``server``'s shared_preload_libraries and restart it (docker
    backend: the harness has no restart); the URL of its maintenance database afterwards."""
    container = getattr(server.stop, "__self__", None)
    if server.backend != "docker" or container is None:
        pytest.skip("restarting the server needs the docker backend")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        # Not '': ALTER SYSTEM writes that as '""', a library the server cannot load.
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'plpgsql'")
    container.get_wrapped_container().restart(timeout=30)
    url = server.url.set(port=int(container.get_exposed_port(5432)))
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(libpq_dsn(url), autocommit=True, connect_timeout=2) as conn:
                row = conn.execute("SHOW shared_preload_libraries").fetchone()
            assert row == ("plpgsql",)
            return url
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_hardened_database_whose_server_no_longer_preloads_pgaudit_fails_verify(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The kit's ALTER DATABASE ... SET pgaudit.* stay behind as placeholders, so
    # current_setting('pgaudit.log') still answers 'ddl, role, write': no control that judges
    # a pgaudit setting may pass on that, for a superuser or an ordinary role.
    server = pg_server_factory({"application_name": "verify-pgaudit-unloaded"})
    name = f"unloaded_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    upgrade(server.url_for(name))
    assert run(server.url_for(name), scope="kit").exit_code == 0
    url = _restart_without_pgaudit(server).set(database=name)
    with psycopg.connect(libpq_dsn(url)) as conn:
        row = conn.execute("SELECT current_setting('pgaudit.log', true)").fetchone()
    assert row == ("ddl, role, write",)  # the placeholder

    report = run(url, scope="kit", probe=True)
    got = statuses(report)
    for control_id in PGAUDIT_SETTING_CONTROLS:
        assert got[control_id] == "fail", control_id
        assert "pgaudit is not loaded" in report.result(control_id).detail, control_id
    assert report.result("pgaudit_log_classes").detail == (
        "pgaudit is not loaded (not in shared_preload_libraries): "
        "pgaudit.log = 'ddl, role, write' has no effect"
    )
    # --probe: the real cause, and no scratch schema that was never created.
    for probe_id in ("probe_ddl_audited", "probe_role_audited", "probe_write_audited"):
        assert got[probe_id] == "fail", probe_id
    for probe in PROBES:
        detail = report.result(probe.id).detail
        assert "pgaudit is not loaded" in detail, detail
        assert "was not removed" not in detail, detail
    assert _scratch_left(libpq_dsn(url)) == (0, 0)

    code, out, _ = verify_cli(
        capsys, "--url", url.render_as_string(hide_password=False), "--scope", "kit"
    )
    assert code == 1
    assert "0 failed" not in out

    user, password = f"verify_user_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(user)
            )
        )
    try:
        ordinary = run(url.set(username=user, password=password), scope="kit")
    finally:
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            # Not DROP OWNED: pgaudit's event triggers refuse every DDL statement now.
            conn.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
                    sql.Identifier(name), sql.Identifier(user)
                )
            )
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))
    assert not ordinary.superuser
    for control_id in PGAUDIT_SETTING_CONTROLS:
        result = ordinary.result(control_id)
        assert result.status is Status.FAIL, (control_id, result.detail)
        assert "pgaudit is not loaded" in result.detail, control_id


# --- findings name the object --------------------------------------------------------------------


def test_a_role_level_override_that_silences_pgaudit_is_found(pg_database: PgDatabase) -> None:
    role = f"quiet_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        try:
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET pgaudit.log = 'none'").format(
                    sql.Identifier(role), sql.Identifier(pg_database.name)
                )
            )
            result = run(pg_database.url, only=["pgaudit_not_silenced"]).results[0]
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert result.status is Status.FAIL
    assert result.evidence[0]["role"] == role
    assert result.evidence[0]["drops"] == "ddl, role, write"


def test_a_security_definer_function_without_search_path_is_found(
    pg_database: PgDatabase,
) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION public.risky() RETURNS int SECURITY DEFINER LANGUAGE sql AS 'SELECT 1'"
        )
        conn.execute(
            "CREATE FUNCTION public.pinned() RETURNS int SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp LANGUAGE sql AS 'SELECT 1'"
        )
    result = run(pg_database.url, only=["security_definer_search_path"]).results[0]
    assert result.status is Status.FAIL
    assert [row["function"] for row in result.evidence] == ["risky()"]


def test_an_application_role_with_createrole_is_found(pg_database: PgDatabase) -> None:
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE").format(sql.Identifier(role)))
        try:
            report = run(pg_database.url, only=["approle_createrole", "approle_bypassrls"])
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert statuses(report) == {"approle_createrole": "fail", "approle_bypassrls": "pass"}
    assert report.results[0].evidence == [{"role": role, "can_login": True}]


def test_the_test_images_pg_hba_findings_are_reported(pg_database: PgDatabase) -> None:
    report = run(pg_database.url, scope="server")
    by_id = {r.control.id: r for r in report.results}
    # local trust; hostssl 0.0.0.0/0 and ::/0 for all users; loopback host lines are fine.
    assert [row["method"] for row in by_id["hba_weak_methods"].evidence] == ["trust"]
    assert {row["address"] for row in by_id["hba_wide_cidr"].evidence} == {"0.0.0.0/0", "::/0"}
    assert by_id["hba_remote_superuser"].status is Status.FAIL
    assert by_id["hba_host_without_ssl"].status is Status.PASS
    assert by_id["session_encrypted"].status is Status.PASS
    assert by_id["session_encrypted"].detail.startswith("TLSv1.")
    assert by_id["log_line_prefix"].detail.endswith("missing: client address")


# --- an ordinary role ----------------------------------------------------------------------------


def test_as_an_ordinary_role_verify_completes_with_skips(
    pg_database: PgDatabase,
    ordinary_role: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    user, password = ordinary_role
    url = pg_database.server.url_for(pg_database.name, user, password)
    report = run(url)
    assert not report.superuser
    got = statuses(report)
    assert len(got) == len(CONTROLS)
    for needs_superuser in (
        "pgaudit_preloaded",
        "ssl_min_protocol_version",
        "md5_verifiers",
        "login_roles_without_password",
        "hba_weak_methods",
        "hba_wide_cidr",
        "hba_remote_superuser",
        "hba_host_without_ssl",
    ):
        assert got[needs_superuser] == "skip", needs_superuser
        assert "(42501)" in report.result(needs_superuser).detail
    for needs_read_all_settings in ("pgaudit_preloaded", "ssl_min_protocol_version"):
        result = report.result(needs_read_all_settings)
        assert "pg_read_all_settings" in result.detail, result.detail
        assert result.control.privilege == "superuser or pg_read_all_settings"
    # What a control needs (the catalog's privilege, the docs' "needs") is never "any role"
    # when an ordinary role cannot evaluate it.
    assert [
        c for c, s in got.items() if s == "skip" and "any role" in control_by_id(c).privilege
    ] == []
    assert got["ssl_on"] == "pass"
    assert got["pgaudit_installed"] == "fail"
    code, out, err = verify_cli(capsys, "--url", url.render_as_string(hide_password=False))
    assert code == 1
    assert password not in out + err
    assert "SKIP" in out


def test_probes_skip_for_an_ordinary_role_when_the_log_is_not_readable(
    pg_database: PgDatabase, ordinary_role: tuple[str, str]
) -> None:
    upgrade(pg_database.url)
    user, password = ordinary_role
    url = pg_database.server.url_for(pg_database.name, user, password)
    report = run(url, only=[p.id for p in PROBES])
    assert set(statuses(report).values()) == {"skip"}
    assert "pgaudit.log_client needs a superuser" in report.results[0].detail


# --- --probe -------------------------------------------------------------------------------------


def test_probe_proves_auditing_after_upgrade_and_leaves_nothing_behind(
    pg_database: PgDatabase,
) -> None:
    upgrade(pg_database.url)
    report = run(pg_database.url, probe=True, scope="kit")
    got = statuses(report)
    assert {p.id: got[p.id] for p in PROBES} == {p.id: "pass" for p in PROBES}
    assert "WRITE,INSERT" in report.result("probe_write_audited").detail
    with psycopg.connect(pg_database.dsn) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'hardening_probe%'),"
            " (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hardening_probe%')"
        ).fetchone()
    assert left == (0, 0)


def test_probe_fails_before_upgrade(pg_database: PgDatabase) -> None:
    got = statuses(run(pg_database.url, only=[p.id for p in PROBES]))
    assert got["probe_ddl_audited"] == "fail"
    assert got["probe_role_audited"] == "fail"
    assert got["probe_write_audited"] == "fail"
    assert got["probe_bind_parameter_hidden"] == "skip"  # nothing audited: nothing to show


def test_probe_catches_a_bind_parameter_in_the_audit_log(pg_database: PgDatabase) -> None:
    upgrade(pg_database.url)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET pgaudit.log_parameter = on").format(
                sql.Identifier(pg_database.name)
            )
        )
    report = run(pg_database.url, only=["probe_bind_parameter_hidden", "pgaudit_log_parameter_off"])
    assert statuses(report) == {
        "pgaudit_log_parameter_off": "fail",
        "probe_bind_parameter_hidden": "fail",
    }
    assert (
        "hardening-probe-secret-"
        in report.result("probe_bind_parameter_hidden").evidence[0]["record"]
    )


# --- formats -------------------------------------------------------------------------------------


def test_json_lists_every_control_with_id_status_and_fix(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = verify_cli(capsys, "--url", pg_database.dsn, "--format", "json")
    doc = json.loads(out)
    assert code == doc["exit_code"] == 1
    assert doc["schema_version"] == 2
    schema = json.loads((DOCS / "verify-report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
    assert len(doc["controls"]) >= 40
    for entry in doc["controls"]:
        assert {"id", "status", "fix", "scope", "severity", "evidence"} <= entry.keys()
        assert entry["status"] in ("pass", "fail", "skip")
    assert doc["summary"]["total"] == len(doc["controls"])
    assert "pg-hardening-test" not in out  # the test server's password
    assert doc["target"]["url"].count("***") == 1


def test_a_password_in_the_url_query_is_hidden_in_every_format(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    password = pg_database.url.password
    assert password
    url = pg_database.url.set(password=None).update_query_dict({"password": str(password)})
    as_text = url.render_as_string(hide_password=False)
    assert f"password={password}" in as_text
    args = ("--url", as_text, "--only", "pgaudit_installed,ssl_on")
    code, out, _ = verify_cli(capsys, *args, "--format", "json")
    assert code == 1  # it connected with the query's password: pgaudit_installed fails
    assert json.loads(out)["target"]["url"].endswith("?password=***")
    assert str(password) not in out
    for fmt in ("text", "junit", "sarif"):
        target = tmp_path / f"verify.{fmt}"
        code, out, err = verify_cli(capsys, *args, "--format", fmt, "-o", str(target))
        assert code == 1
        written = target.read_text(encoding="utf-8")
        assert "password=***" in written, fmt
        assert str(password) not in written + out + err, fmt


def test_sarif_output_validates_against_the_sarif_2_1_0_schema(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = verify_cli(capsys, "--url", pg_database.dsn, "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validate(log, schema)
    results = log["runs"][0]["results"]
    failing = {r["ruleId"] for r in results if r["kind"] == "fail"}
    assert "pgaudit_installed" in failing
    assert all(r["level"] == "none" for r in results if r["kind"] != "fail")
    broken = dict(log, version="2.0.0")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_junit_output_counts_failures_and_skips(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "verify.xml"
    code, _, _ = verify_cli(
        capsys, "--url", pg_database.dsn, "--format", "junit", "-o", str(target)
    )
    assert code == 1
    suite = ET.fromstring(target.read_text(encoding="utf-8")).find("testsuite")  # noqa: S314
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(CONTROLS)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert suite.get("failures") == str(len(failed))
    assert "pgaudit_installed" in failed


# --- the text report on a terminal ---------------------------------------------------------------

RED_FAIL = re.compile(r"\x1b\[[0-9;]*31m\s*FAIL")


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """``hardening verify`` with stdout on a pseudo-terminal, in environment ``env``; what the
    terminal received."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardening.cli", "verify", *args],
        stdin=subprocess.DEVNULL,
        stdout=sub,
        stderr=subprocess.DEVNULL,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(sub)
    received = bytearray()
    try:
        while chunk := os.read(main, 65536):
            received += chunk
    except OSError:  # EIO: the child closed its end
        pass
    finally:
        os.close(main)
    proc.wait(timeout=60)
    return received.decode("utf-8", "replace")


def test_the_text_report_is_coloured_on_a_terminal_only(pg_database: PgDatabase) -> None:
    # Before the upgrade both controls fail: FAIL is red on a terminal, plain when piped or
    # when NO_COLOR is set (https://no-color.org).
    args = ("--url", pg_database.dsn, "--only", "pgaudit_installed,pgcrypto_installed")
    plain_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    coloured = _on_a_terminal(*args, env=plain_env)
    assert RED_FAIL.search(coloured), coloured
    assert "pgaudit_installed" in coloured
    piped = _cli(*args)
    assert piped.returncode == 1
    assert "FAIL" in piped.stdout
    assert "\x1b[" not in piped.stdout
    no_color = _on_a_terminal(*args, env={**plain_env, "NO_COLOR": "1"})
    assert "FAIL" in no_color
    assert not RED_FAIL.search(no_color), no_color


# --- could not run -------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardening.cli", "verify", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://alice:s3cret-pw@127.0.0.1:1/app", "postgresql+psycopg://alice:***@"),
        (
            "postgresql://alice@127.0.0.1:1/app?password=s3cret-pw",
            "postgresql+psycopg://alice@127.0.0.1:1/app?password=***",
        ),
        (
            "postgresql://alice@127.0.0.1:1/app?sslmode=prefer&sslpassword=s3cret-pw",
            "postgresql+psycopg://alice@127.0.0.1:1/app?sslmode=prefer&sslpassword=***",
        ),
    ],
)
def test_an_unreachable_server_exits_2_with_one_line_and_no_password(url: str, shown: str) -> None:
    proc = _cli("--url", url)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"hardening verify: cannot connect to {shown}")
    assert "s3cret-pw" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_wrong_password_exits_2_naming_the_reason(pg_database: PgDatabase) -> None:
    url = pg_database.url.set(password="wrong-password-xyz")
    env = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    proc = _cli(env=env)
    assert proc.returncode == 2
    assert "wrong-password-xyz" not in proc.stderr
    # libpq's clear-text retry (sslmode=prefer) is refused by the hostssl rules: its "no
    # pg_hba.conf entry ... no encryption" is not the cause and is not shown.
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].endswith(f'password authentication failed for user "{url.username}"')
    assert "pg_hba.conf" not in proc.stderr


def test_an_output_file_that_cannot_be_written_exits_2_before_anything_runs(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "r.json"
    for target, problem in (
        (missing, f"no such directory {missing.parent}"),
        (tmp_path, "it is a directory"),
    ):
        code, out, err = verify_cli(
            capsys, "--url", pg_database.dsn, "--format", "json", "-o", str(target)
        )
        assert code == 2
        assert out == ""
        assert err == f"hardening verify: cannot write the report to {target}: {problem}\n"
    # Checked before connecting: an unreachable server is not what it reports.
    code, _, err = verify_cli(capsys, "--url", "postgresql://a@127.0.0.1:1/db", "-o", str(missing))
    assert code == 2
    assert err.startswith("hardening verify: cannot write the report to")


def test_a_selection_of_no_control_is_a_usage_error(
    pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    every = ",".join(c.id for c in CONTROLS + PROBES)
    for args, message in (
        (
            ("--only", "pgaudit_preloaded", "--scope", "kit"),
            "no controls selected: --only pgaudit_preloaded leaves none in --scope kit "
            "(pgaudit_preloaded is server-scope)",
        ),
        (
            ("--only", "ssl_on", "--skip", "ssl_on"),
            "no controls selected: --only ssl_on --skip ssl_on leaves none in --scope all",
        ),
        (
            ("--skip", every),
            f"no controls selected: --skip <{len(CONTROLS) + len(PROBES)} ids> leaves none "
            "in --scope all",
        ),
        (
            ("--skip", "ssl_on,no_such_control"),
            "unknown control id(s): no_such_control (see `hardening verify --list`)",
        ),
    ):
        code, out, err = verify_cli(capsys, "--url", pg_database.dsn, *args)
        assert (code, out, err) == (2, "", f"hardening verify: {message}\n"), args
    with pytest.raises(VerifyError, match="no controls selected"):
        run(pg_database.url, only=["probe_ddl_audited"], scope="server")


def test_a_url_that_is_not_one_names_verifys_own_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = "is not a URL; expected postgresql://user:password@host:port/database\n"
    code, _, err = verify_cli(capsys, "--url", "notaurl")
    assert code == 2
    assert err == f"hardening verify: the database URL (--url) {expected}"
    monkeypatch.setenv("DATABASE_URL", "notaurl")
    code, _, err = verify_cli(capsys)
    assert code == 2
    assert err == f"hardening verify: the database URL (DATABASE_URL) {expected}"


def test_no_url_and_bad_input_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "hardening.cli", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "DATABASE_URL" in proc.stderr
    assert _cli("--url", "mysql://x@h/db").returncode == 2
    for bad, problem in (
        ("postgresql://a:s3cret-pw@host:abc/app", "port"),
        ("postgresql://a:s3cret-pw@[::1/app", "IPv6"),
        ("postgresql://a@host:abc/app?password=s3cret-pw", "port"),
    ):
        proc = _cli("--url", bad)
        assert proc.returncode == 2, bad
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("hardening verify: the database URL"), lines[0]
        assert problem in lines[0]
        assert "s3cret-pw" not in proc.stderr
    with pytest.raises(VerifyError, match="unknown control id"):
        run("postgresql://x@127.0.0.1:1/db", only=["no_such_control"])


def test_verify_runtime_is_reported(pg_database: PgDatabase) -> None:
    report = run(pg_database.url)
    doc = to_dict(report)
    assert doc["duration_ms"] > 0
    assert all(entry["duration_ms"] >= 0 for entry in doc["controls"])
    print(f"verify: {len(report.results)} controls in {report.duration_ms:.0f} ms")


def test_probe_reads_the_server_log_through_sql_when_the_collector_runs(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"logging_collector": "on", "log_filename": "verify-%H.log"})
    with server.database() as url:
        upgrade(url)
        report = run(url, only=["logging_collector", *(p.id for p in PROBES)])
    got = statuses(report)
    assert set(got.values()) == {"pass"}, report.results
    record = report.result("probe_write_audited").evidence[0]
    assert record["route"].startswith("server log log/verify-")
    assert "<not logged>" in record["record"]


def _event_trigger(dsn: str, name: str, event: str, condition: str) -> None:
    """An event trigger that raises when ``condition`` holds for a command of the probe's."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION public.{fn}() RETURNS event_trigger LANGUAGE plpgsql AS $$"
                "BEGIN IF {cond} THEN RAISE EXCEPTION 'blocked by test'; END IF; END $$"
            ).format(fn=sql.Identifier(name), cond=sql.SQL(condition))
        )
        conn.execute(
            sql.SQL("CREATE EVENT TRIGGER {} ON {} EXECUTE FUNCTION public.{}()").format(
                sql.Identifier(name),
                sql.SQL(event),
                sql.Identifier(name),
            )
        )


def _scratch_left(dsn: str) -> tuple[int, int] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'hardening_probe%'),"
            " (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hardening_probe%')"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def test_probe_removes_its_scratch_schema_and_role_when_a_step_fails_midway(
    pg_database: PgDatabase,
) -> None:
    upgrade(pg_database.url)
    # The schema exists when CREATE TABLE fails; the write then fails too.
    _event_trigger(
        pg_database.dsn,
        "block_probe_table",
        "ddl_command_end WHEN TAG IN ('CREATE TABLE')",
        "EXISTS (SELECT FROM pg_event_trigger_ddl_commands() "
        "WHERE schema_name LIKE 'hardening_probe%')",
    )
    report = run(pg_database.url, only=[p.id for p in PROBES])
    got = statuses(report)
    assert got["probe_ddl_audited"] == "skip"
    assert got["probe_write_audited"] == "skip"
    assert report.result("probe_write_audited").detail.startswith("cannot run the canary")
    assert got["probe_role_audited"] == "pass"
    assert _scratch_left(pg_database.dsn) == (0, 0)


def test_probe_says_so_when_it_cannot_remove_its_scratch_schema(
    pg_database: PgDatabase,
) -> None:
    upgrade(pg_database.url)
    _event_trigger(
        pg_database.dsn,
        "block_probe_drop",
        "sql_drop",
        "EXISTS (SELECT FROM pg_event_trigger_dropped_objects() "
        "WHERE object_type = 'schema' AND object_name LIKE 'hardening_probe%')",
    )
    report = run(pg_database.url, only=[p.id for p in PROBES])
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        left = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hardening_probe%'"
            )
        ]
        conn.execute("ALTER EVENT TRIGGER block_probe_drop DISABLE")
        for schema in left:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    assert len(left) == 1
    for result in report.results:
        assert f"scratch schema {left[0]} was not removed" in result.detail, result.detail
        assert "blocked by test" in result.detail


def test_probe_does_not_report_a_scratch_schema_it_never_created(
    pg_database: PgDatabase,
) -> None:
    upgrade(pg_database.url)
    # CREATE SCHEMA fails, and so does the cleanup's DROP SCHEMA IF EXISTS: nothing is left.
    _event_trigger(
        pg_database.dsn,
        "block_probe_schema",
        "ddl_command_start WHEN TAG IN ('CREATE SCHEMA', 'DROP SCHEMA')",
        "true",
    )
    report = run(pg_database.url, only=[p.id for p in PROBES])
    assert report.result("probe_ddl_audited").detail == "cannot run the canary: blocked by test"
    assert report.result("probe_role_audited").status is Status.PASS
    for result in report.results:
        assert "was not removed" not in result.detail, result.detail
    assert _scratch_left(pg_database.dsn) == (0, 0)
