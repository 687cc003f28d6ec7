"""The kit's migrations from an installed kit: ``hardening upgrade``, ``downgrade``, ``current``,
``history`` and ``sql``, each run as users run them (the venv's ``hardening`` script, from a
directory without any alembic.ini) against a real server: the steps they run, one line and
exit 2 for whatever stops them (with nothing changed), and the server's NOTICEs and the
warnings of the run passed on, with the commands they name working when followed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from psycopg import sql

from hardening import steps
from hardening.cli import build_parser, command_names
from hardening.testing.plugin import PgDatabase
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import db_settings, give_database, version_num, x_options
from tests.roles import execute, unique_roles
from tests.test_alembic_env import documented_alembic_commands

HARDENING = Path(sys.executable).with_name("hardening")  # the console script pip installed
HEAD = steps.STEPS[-1].id


def hardening(*args: str, cwd: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """``hardening ARGS`` in ``cwd``, with DATABASE_URL set to ``url`` (else unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARDENING_", "DATABASE"))}
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.run(
        [str(HARDENING), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def one_line_error(proc: subprocess.CompletedProcess[str], command: str) -> str:
    """The one line a refused command printed on stderr (exit 2, nothing on stdout)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"hardening {command}: "), lines[0]
    return lines[0]


def test_upgrade_current_history_and_downgrade_from_an_empty_directory(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    x = x_options(unique_roles())
    before = snapshot(pg_database.dsn)
    at_base = hardening("current", cwd=tmp_path, url=pg_database.dsn)
    assert (at_base.returncode, at_base.stdout) == (0, "base (no step of the kit is applied)\n")

    up = hardening("upgrade", *x, cwd=tmp_path, url=pg_database.dsn)
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines() == [
        f"upgrade {s.down_revision or 'base'} -> {s.id}, {s.title}" for s in steps.STEPS
    ]
    assert version_num(pg_database.dsn) == [(HEAD,)]
    current = hardening("current", "--url", pg_database.dsn, cwd=tmp_path)
    assert (current.returncode, current.stdout) == (0, f"{HEAD} (head)\n"), current.stderr
    again = hardening("upgrade", *x, cwd=tmp_path, url=pg_database.dsn)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "nothing to do: the database is at head already\n"

    history = hardening("history", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    assert [line.split(" (")[0].split(", ")[0] for line in history.stdout.splitlines()] == [
        f"{s.down_revision or '<base>'} -> {s.id}" for s in reversed(steps.STEPS)
    ]

    down = hardening("downgrade", "base", *x, cwd=tmp_path, url=pg_database.dsn)
    assert down.returncode == 0, down.stderr
    assert down.stdout.splitlines()[0].startswith(f"downgrade {HEAD} -> ")
    assert (
        down.stdout.splitlines()[-1]
        == f"downgrade {steps.STEPS[0].id} -> base, {steps.STEPS[0].title}"
    )
    assert diff(before, snapshot(pg_database.dsn)) == {}
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


def test_sql_renders_the_run_with_the_settings_given(tmp_path: Path) -> None:
    up = hardening("sql", "upgrade", "-x", "audit_role=rds_pgaudit", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert up.stdout.count("-- Running upgrade ") == len(steps.STEPS)
    assert "'rds_pgaudit'" in up.stdout
    down = hardening("sql", "downgrade", "h007_log_hygiene", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert down.stdout.count("-- Running downgrade ") == len(steps.STEPS) - 8
    assert f"-- Running downgrade {HEAD} -> " in down.stdout
    refused = hardening("sql", "upgrade", "-x", "audit_log=everything", cwd=tmp_path)
    assert "setting audit_log is 'everything'" in one_line_error(refused, "sql")


def test_an_unknown_x_name_is_refused_before_anything_connects(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    proc = hardening(
        "upgrade", "-x", "audit_logs=all", "-x", "password_pepper=s3cret", cwd=tmp_path,
        url=pg_database.dsn,
    )  # fmt: skip
    line = one_line_error(proc, "upgrade")
    assert "-x audit_logs is not a setting (did you mean audit_log?)" in line
    assert "-x password_pepper is refused: it is read from the environment only" in line
    assert "s3cret" not in proc.stderr
    assert version_num(pg_database.dsn) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://app:pw@127.0.0.1/app", "pg-hardening needs a postgresql:// URL"),
        ("postgresql://app:pw@127.0.0.1:port/app", "a port that is not a number"),
        (None, "no target database: pass --url"),
    ],
    ids=["not postgresql", "malformed", "none"],
)
def test_a_url_the_kit_cannot_use_is_one_line(
    url: str | None, expected: str, tmp_path: Path
) -> None:
    line = one_line_error(hardening("upgrade", cwd=tmp_path, url=url), "upgrade")
    assert expected in line
    assert "pw" not in line


def test_a_missing_database_is_named(pg_database: PgDatabase, tmp_path: Path) -> None:
    missing = pg_database.url.set(database=f"{pg_database.name}_missing")
    rendered = missing.render_as_string(hide_password=False)
    line = one_line_error(hardening("current", "--url", rendered, cwd=tmp_path), "current")
    assert f'database "{pg_database.name}_missing" does not exist' in line
    assert str(missing.password) not in line


# The statement a refusal's hint tells a superuser to run: a GRANT, ALTER ROLE or CREATE
# EXTENSION, up to the end of the line, a ";" or a parenthesised remark.
HINTED_SQL = re.compile(r"((?:GRANT|ALTER ROLE|CREATE EXTENSION) [^;()]+?)(?: \(|;|$)")


def test_each_privilege_a_run_lacks_is_one_line_and_its_hint_works(
    pg_database: PgDatabase, login_role: Callable[..., str], tmp_path: Path
) -> None:
    # A role that may only connect, upgraded until it reaches head: each run stops at what it
    # lacks with one line, changes nothing, and the statement its hint names (run as a
    # superuser) lets the next run get further.
    user = login_role()
    as_user = pg_database.url.set(username=user, password=user).render_as_string(False)
    x = x_options(unique_roles())
    followed: list[str] = []
    for _ in range(20):  # one run per refusal, with room to spare
        before = snapshot(pg_database.dsn)
        proc = hardening("upgrade", *x, "--url", as_user, cwd=tmp_path)
        if proc.returncode == 0:
            break
        line = one_line_error(proc, "upgrade")
        assert diff(before, snapshot(pg_database.dsn)) == {}
        if "run it as the database owner or a superuser" in line:  # no SQL to run: do so
            give_database(pg_database, user)
            continue
        statement = HINTED_SQL.search(line.split("; hint: ")[-1] if "; hint: " in line else line)
        assert statement, line
        followed.append(statement[1])
        execute(pg_database.dsn, statement[1])
    assert version_num(pg_database.dsn) == [(HEAD,)], proc.stderr
    assert followed[:4] == [
        f"GRANT CREATE ON SCHEMA public TO {user}",  # alembic's version table
        f"GRANT CREATE ON DATABASE {pg_database.name} TO {user}",  # h001
        f"ALTER ROLE {user} CREATEROLE",  # h003
        "GRANT SET ON PARAMETER pgaudit.log, pgaudit.log_catalog, pgaudit.log_parameter, "
        "pgaudit.log_relation, pgaudit.log_statement_once, pgaudit.log_level, "
        f"pgaudit.log_client TO {user}",  # h005
    ], followed
    assert "CREATE EXTENSION pgaudit SCHEMA public" in followed  # h005, then h006 and h007
    down = hardening("downgrade", "base", "--url", as_user, cwd=tmp_path)
    assert down.returncode == 0, down.stderr


def test_an_unknown_revision_is_one_line(pg_database: PgDatabase, tmp_path: Path) -> None:
    proc = hardening("downgrade", "h999_nothing", cwd=tmp_path, url=pg_database.dsn)
    assert "h999_nothing" in one_line_error(proc, "downgrade")


def test_a_kept_role_is_said_and_its_hint_works(pg_database: PgDatabase, tmp_path: Path) -> None:
    roles = unique_roles()
    readwrite, member = roles["readwrite_role"], f"{roles['readwrite_role']}_member"
    before = snapshot(pg_database.dsn)
    up = hardening("upgrade", *x_options(roles), cwd=tmp_path, url=pg_database.dsn)
    assert up.returncode == 0, up.stderr
    execute(  # the application's own role, a member of the kit's
        pg_database.dsn,
        sql.SQL("CREATE ROLE {} IN ROLE {}").format(
            sql.Identifier(member), sql.Identifier(readwrite)
        ),
    )
    try:
        down = hardening("downgrade", "base", cwd=tmp_path, url=pg_database.dsn)
        assert down.returncode == 0, down.stderr
        assert down.stderr.splitlines() == [
            f"server NOTICE: pg-hardening: kept role {readwrite} because other objects, grants, "
            f"members or role settings depend on it; hint: once nothing needs it: DROP ROLE "
            f"{readwrite}"
        ]
        execute(  # what needed it goes, then the hint as printed
            pg_database.dsn,
            sql.SQL("DROP ROLE {}").format(sql.Identifier(member)),
            down.stderr.rsplit("hint: once nothing needs it: ", 1)[1].strip(),
        )
    finally:
        execute(pg_database.dsn, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(member)))
    assert diff(before, snapshot(pg_database.dsn)) == {}


def test_settings_that_took_no_effect_name_hardening_commands_that_apply_them(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    x = x_options(unique_roles())
    assert hardening("upgrade", *x, cwd=tmp_path, url=pg_database.dsn).returncode == 0
    proc = hardening("upgrade", *x, "-x", "audit_log=all", cwd=tmp_path, url=pg_database.dsn)
    assert proc.returncode == 0, proc.stderr
    (warning,) = proc.stderr.splitlines()
    printed = warning.split("To apply them: ", 1)[1].split(" (with")[0].split(", then ")
    assert printed == [
        "hardening downgrade h004_least_privilege",
        "hardening upgrade -x audit_log=all head",
    ]
    for command in printed:  # as printed, with the role settings given before
        args = shlex.split(command)[1:]
        build_parser(args[0]).parse_args(args)  # the hardening command takes it as it is
        run = hardening(*args, *x, cwd=tmp_path, url=pg_database.dsn)
        assert run.returncode == 0, run.stderr
    assert db_settings(pg_database.dsn)["pgaudit.log"] == "all"
    quiet = hardening("upgrade", *x, "-x", "audit_log=all", cwd=tmp_path, url=pg_database.dsn)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert hardening("downgrade", "base", cwd=tmp_path, url=pg_database.dsn).returncode == 0


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "doc", ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]
)
def test_every_documented_hardening_command_is_one_the_command_line_accepts(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    commands = documented_alembic_commands(
        text, program="hardening", verbs=f"(?:{'|'.join(map(re.escape, command_names()))})(?=\\s|$)"
    )
    if doc in ("README.md", "docs/migrations.md"):
        assert any(line.startswith("hardening upgrade") for line in commands), commands
    for line in commands:
        # a synopsis: hardening sql upgrade [REVISION], --format rds|cloudsql, ... LOGFILE
        if re.search(r"\[|\||\.\.\.|…|\b[A-Z]{3,}\b", line):
            continue
        args = shlex.split(line.split(" > ")[0])[1:]
        try:
            build_parser(args[0]).parse_args(args)
        except SystemExit:
            if len(args) == 1:  # `hardening rotate` in prose names the command
                continue
            pytest.fail(f"{doc}: hardening refuses `{line}`")
