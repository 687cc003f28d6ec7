"""``hardening profile --format FORMAT``: each platform's output is read by what reads it there
(botocore's model of ``modify-db-parameter-group``, an HCL parser, gcloud's list syntax, the
shell, PostgreSQL itself) and holds pgaudit in what preloads it."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Callable

import hcl2
import psycopg
import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator
from psycopg import sql

from hardening import settings
from hardening.profile import render, wanted
from hardening.profile.platforms import Row
from hardening.testing import PgServer
from tests.serverfiles import data_path, write


def profile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardening.cli", "profile", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def output(fmt: str, *args: str) -> tuple[str, str]:
    proc = profile("--format", fmt, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_rds_is_the_json_the_aws_cli_takes_with_pgaudit_preloaded_after_a_reboot() -> None:
    text, notes = output("rds")
    parameters = json.loads(text)
    # The operation the AWS CLI calls, validated against the service model botocore ships.
    model = get_session().get_service_model("rds").operation_model("ModifyDBParameterGroup")
    report = ParamValidator().validate(
        {"DBParameterGroupName": "pg-hardening", "Parameters": parameters}, model.input_shape
    )
    assert not report.has_errors(), report.generate_report()
    by_name = {p["ParameterName"]: p for p in parameters}
    assert by_name["shared_preload_libraries"] == {
        "ParameterName": "shared_preload_libraries",
        "ParameterValue": "pgaudit",
        "ApplyMethod": "pending-reboot",
    }
    assert by_name["rds.force_ssl"]["ParameterValue"] == "1"
    assert by_name["log_connections"]["ParameterValue"] == "1"  # RDS booleans are 1/0
    assert by_name["log_rotation_age"]["ParameterValue"] == "1440"  # minutes, its unit
    assert {"ssl", "logging_collector", "log_line_prefix"}.isdisjoint(by_name)
    assert "logging_collector: not set here: the service collects" in notes
    assert "every standby needs the same server settings" in notes


def test_terraform_is_an_aws_db_parameter_group_resource() -> None:
    text, _ = output("terraform", "--pg-version", "15")

    def unquoted(value: object) -> str:  # python-hcl2 8 keeps strings quoted, as in HCL
        text = str(value)
        return str(json.loads(text)) if text.startswith('"') else text

    parsed = hcl2.loads(text)
    resources = {unquoted(k): v for k, v in parsed["resource"][0].items()}
    groups = {unquoted(k): v for k, v in resources["aws_db_parameter_group"].items()}
    group = groups["pg_hardening"]

    assert unquoted(group["family"]) == "postgres15"
    parameters = {
        unquoted(p["name"]): (unquoted(p["value"]), unquoted(p["apply_method"]))
        for p in group["parameter"]
    }
    assert parameters["shared_preload_libraries"] == ("pgaudit", "pending-reboot")
    rds = {p["ParameterName"]: p["ParameterValue"] for p in json.loads(output("rds")[0])}
    assert {name: value for name, (value, _) in parameters.items()} == rds


def gcloud_list(value: str) -> list[str]:
    """gcloud's list syntax (gcloud topic escaping): split at commas, or at the delimiter
    named by a leading ^D^."""
    delimiter = ","
    if value.startswith("^"):
        delimiter, value = value[1], value[3:]
    return value.split(delimiter)


def test_cloudsql_is_the_database_flags_value_with_pgaudit_enabled() -> None:
    text, notes = output("cloudsql")
    flags = dict(item.split("=", 1) for item in gcloud_list(text.strip()))
    assert flags["cloudsql.enable_pgaudit"] == "on"
    assert flags["log_connections"] == "on"
    assert "shared_preload_libraries" not in flags
    assert "--ssl-mode=ENCRYPTED_ONLY" in notes
    assert "replaces every flag the instance has" in notes


def test_a_cloudsql_value_with_a_comma_gets_another_delimiter() -> None:
    rows = [Row("pgaudit.log", "ddl, role", False, "x"), Row("log_connections", "on", False, "y")]
    text = render._RENDERERS["cloudsql"](rows, [], 17)
    assert gcloud_list(text.strip()) == ["pgaudit.log=ddl, role", "log_connections=on"]


def test_azure_is_az_commands_the_shell_and_az_read_as_parameter_sets() -> None:
    text, _ = output("azure", "-x", "server_log_line_prefix=%m [%p] %u@%d 'it''s' %h ")
    az = argparse.ArgumentParser(prog="az", exit_on_error=False)
    for option in ("--resource-group", "--server-name", "--name", "--value"):
        az.add_argument(option, required=True)
    commands = [shlex.split(line) for line in text.splitlines() if line.startswith("az ")]
    sets = {}
    for words in commands:
        if words[:4] == ["az", "postgres", "flexible-server", "parameter"]:
            assert words[4] == "set"
            parsed = az.parse_args(words[5:])
            sets[parsed.name] = parsed.value
    assert sets["shared_preload_libraries"] == "pgaudit"
    assert sets["azure.extensions"] == "pgaudit,pgcrypto"
    assert sets["require_secure_transport"] == "on"
    # h008's prefix, completed with the escapes CIS and the STIG ask for
    assert sets["log_line_prefix"] == wanted.complete_prefix("%m [%p] %u@%d 'it''s' %h ")
    assert sets["temp_file_limit"] == "10485760"  # kB, its base unit
    assert commands[-1][:4] == ["az", "postgres", "flexible-server", "restart"]


def test_sql_applies_on_a_server_as_printed(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "profile_sql"})
    text, _ = output("sql")
    statements = [s for s in text.split(";\n") if s.strip() and not s.startswith("--")]
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for statement in text.split(";\n"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            if body.strip():
                conn.execute(body)
        found = conn.execute(
            "SELECT name, setting, error FROM pg_file_settings "
            "WHERE sourcefile LIKE '%postgresql.auto.conf'"
        ).fetchall()
        conn.execute("ALTER SYSTEM RESET ALL")
        conn.execute("SELECT pg_reload_conf()")
    assert len(statements) > 20
    rows = {name: setting for name, setting, _ in found}
    errors = {name: error for name, _, error in found if error}
    assert errors.items() <= {n: "setting could not be applied" for n in wanted.RESTART}.items()
    assert rows["shared_preload_libraries"] == "pgaudit, auth_delay"
    assert rows["log_timezone"] == "UTC"
    expected = set(wanted.values(lambda name: settings.SETTINGS[name].default))
    assert set(rows) == expected


def test_conf_is_read_by_the_server_without_an_error(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    server = pg_server_factory({"cluster_name": "profile_conf"})
    text, _ = output("conf", "-x", "server_log_line_prefix=%m [%p] %u@%d 'quoted' %h ")
    path = data_path(server.dsn, "hardening.conf")
    write(server.dsn, path, text)
    conf = data_path(server.dsn, "postgresql.conf")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        line = f"include '{path}'"
        conn.execute(
            sql.SQL("COPY (SELECT {}) TO PROGRAM {}").format(
                sql.Literal(line), sql.Literal(f"cat >> '{conf}'")
            )
        )
        rows = conn.execute(
            "SELECT name, setting, error FROM pg_file_settings WHERE sourcefile = %s", [path]
        ).fetchall()
    settings = {name: setting for name, setting, _ in rows}
    errors = {name: error for name, _, error in rows if error}
    restart = {name: "setting could not be applied" for name in wanted.RESTART}
    assert errors.items() <= restart.items(), errors
    assert settings["log_line_prefix"] == wanted.complete_prefix("%m [%p] %u@%d 'quoted' %h ")
    assert settings["shared_preload_libraries"] == "pgaudit,auth_delay"


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ("server_log_statement=none", "setting server_log_statement is 'none'"),
        ("server_ssl_min_protocol_version=TLSv1", "the profile takes TLSv1.2, TLSv1.3"),
        ("server_log_line_prefix=%m ", "would not record process or session id"),
        ("no_such=1", "-x no_such is not a setting"),
    ],
)
def test_a_value_the_profile_refuses_is_one_line_and_exit_2(x: str, expected: str) -> None:
    proc = profile("--format", "rds", "-x", x)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert expected in proc.stderr


def test_every_format_has_a_test_here() -> None:
    tested = {"rds", "terraform", "cloudsql", "azure", "sql", "conf"}
    assert set(render.FORMATS) == tested
