"""The standalone Alembic environment: where the URL comes from, and where versions are kept."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import CommandLine
from sqlalchemy import create_engine, text

from hardening import migrate
from hardening.testing.plugin import PgDatabase

ROOT = Path(__file__).resolve().parent.parent


def alembic_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def version_tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_name IN ('hardening_version', 'alembic_version') ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_without_a_url_alembic_exits_with_one_line_naming_database_url() -> None:
    proc = alembic_cli("upgrade", "head")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "DATABASE_URL" in lines[0]
    assert "-x url=" in lines[0]


def test_a_url_that_is_not_postgresql_is_refused_by_name() -> None:
    proc = alembic_cli("upgrade", "head", env={"DATABASE_URL": "mysql://u:p@localhost/db"})
    assert proc.returncode != 0
    assert "postgresql://" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_database_url_upgrade_keeps_versions_in_hardening_version(pg_database: PgDatabase) -> None:
    proc = alembic_cli("upgrade", "head", env={"DATABASE_URL": pg_database.dsn})
    assert proc.returncode == 0, proc.stderr
    assert version_tables(pg_database.dsn) == ["hardening_version"]


def test_x_url_wins_and_plain_postgresql_urls_use_psycopg3(pg_database: PgDatabase) -> None:
    proc = alembic_cli(
        "-x",
        f"url={pg_database.dsn}",
        "upgrade",
        "head",
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing"},
    )
    assert proc.returncode == 0, proc.stderr
    assert version_tables(pg_database.dsn) == ["hardening_version"]


def test_a_handed_in_connection_is_used(pg_database: PgDatabase) -> None:
    engine = create_engine(pg_database.url)
    cfg = migrate.config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    engine.dispose()
    assert version_tables(pg_database.dsn) == ["hardening_version"]


class OnlyConnect:
    """What pytest-alembic and alembic's cookbook may hand in: an object offering ``connect()``
    and nothing else (no Engine, no Connection)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect

    def connect(self) -> Any:
        return self._connect()


def test_a_wrapper_offering_only_connect_is_used_like_an_engine(pg_database: PgDatabase) -> None:
    engine = create_engine(pg_database.url)
    cfg = migrate.config()
    cfg.attributes["connection"] = OnlyConnect(engine.connect)
    command.upgrade(cfg, "head")
    engine.dispose()
    assert version_tables(pg_database.dsn) == ["hardening_version"]
    with psycopg.connect(pg_database.dsn) as conn:  # the run's advisory lock went with it
        held = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        assert held.fetchone() == (0,)


def test_a_wrapped_live_connection_is_migrated_in_its_owner_s_transaction(
    pg_database: PgDatabase,
) -> None:
    engine = create_engine(pg_database.url)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # the owner's transaction has begun
        cfg = migrate.config()
        cfg.attributes["connection"] = OnlyConnect(lambda: contextlib.nullcontext(connection))
        command.upgrade(cfg, "head")
        assert connection.execute(text("SELECT count(*) FROM hardening_version")).scalar() == 1
        connection.rollback()  # the owner decides: nothing of the run remains
    engine.dispose()
    assert version_tables(pg_database.dsn) == []


def test_revisions_carry_the_hardening_branch_label() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.config())
    roots = [rev for rev in script.walk_revisions() if rev.down_revision is None]
    assert len(roots) == 1
    assert "hardening" in roots[0].branch_labels
    assert script.get_revisions("hardening@head")


def alembic_errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("alembic:")]


def test_unknown_and_environment_only_x_names_are_refused_in_one_line_before_connecting(
    pg_database: PgDatabase,
) -> None:
    from tests.migrations.catalog import diff, snapshot

    before = snapshot(pg_database.dsn)
    proc = alembic_cli(
        *("-x", f"url={pg_database.dsn}", "-x", "audit_logs=all", "-x", "auditrole=rds_pgaudit"),
        *("-x", "password_pepper=s3cret", "-x", "bogus=1", "upgrade", "head"),
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "s3cret" not in proc.stderr + proc.stdout  # a refused secret is never echoed
    (line,) = alembic_errors(proc)
    assert "-x audit_logs is not a setting (did you mean audit_log?)" in line
    assert "-x auditrole is not a setting (did you mean audit_role?)" in line
    assert "-x bogus is not a setting;" in line
    assert "-x password_pepper is refused: it is read from the environment only" in line
    assert "HARDENING_PASSWORD_PEPPER" in line
    assert diff(before, snapshot(pg_database.dsn)) == {}
    assert version_tables(pg_database.dsn) == []


@pytest.mark.parametrize("name", ["password_pepper", "keys", "keys_file"])
def test_environment_only_settings_are_refused_on_x_also_when_rendering_sql(name: str) -> None:
    proc = alembic_cli("-x", f"{name}=c2VjcmV0", "upgrade", "head", "--sql")
    assert proc.returncode != 0
    assert proc.stdout == ""  # no SQL rendered
    (line,) = alembic_errors(proc)
    assert f"-x {name} is refused: it is read from the environment only" in line
    assert f"HARDENING_{name.upper()}" in line
    assert "c2VjcmV0" not in proc.stderr


def test_a_misspelled_name_is_refused_when_rendering_sql() -> None:
    proc = alembic_cli("-x", "server_profil=on", "upgrade", "head", "--sql")
    assert proc.returncode != 0
    assert proc.stdout == ""
    (line,) = alembic_errors(proc)
    assert "-x server_profil is not a setting (did you mean server_profile?)" in line


def test_hardening_settings_marks_the_environment_only_ones() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hardening.cli", "settings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("password_pepper", "keys", "keys_file"):
        assert f"{name}  (HARDENING_{name.upper()} only, never -x, " in proc.stdout
    assert "audit_role  (HARDENING_AUDIT_ROLE, default" in proc.stdout


def documented_alembic_commands(
    text: str, program: str = "alembic", verbs: str = "-\\S|upgrade|downgrade|current|stamp"
) -> list[str]:
    """The ``alembic ...`` (or ``program ...``) command lines of a Markdown text whose first
    word after the program is one of ``verbs`` (a regex alternation): in backtick spans and in
    code blocks (where a quoted message may join two with ", then ", and a backslash joins a
    line to the next), comments cut off. A bare ``alembic upgrade`` names the command in
    prose and is left out."""
    code, prose, fenced, continued = [], [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced or line.startswith("    "):
            line = continued + line.split("#", 1)[0]
            continued = line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else ""
            if not continued:  # a shell line ending in a backslash goes on in the next
                code.append(line)
        else:
            prose.append(line)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", "\n".join(prose))]
    found = []
    for candidate in [*spans, *code]:
        for part in candidate.split(", then "):
            match = re.search(rf"(?:^|\s)({program} (?:{verbs})\S*.*)", part)
            if match and len(match.group(1).split()) > (2 if program == "alembic" else 1):
                found.append(match.group(1).strip())
    return found


@pytest.mark.parametrize("doc", ["README.md", "docs/migrations.md"])
def test_every_documented_alembic_command_is_one_alembic_accepts(doc: str) -> None:
    # alembic takes -x before the command only: `alembic upgrade head -x name=value` exits 2.
    commands = documented_alembic_commands((ROOT / doc).read_text(encoding="utf-8"))
    assert any("-x server_profile=on" in c for c in commands), commands
    for line in commands:
        words = shlex.split(line)
        try:
            CommandLine(prog="alembic").parser.parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"{doc}: alembic refuses `{line}`")


def test_server_messages_become_one_marked_line_and_pgaudits_own_lines_are_left_out() -> None:
    line = migrate.server_message_line("NOTICE", "pg-hardening: kept role r", "why\nand how")
    assert line == "server NOTICE: pg-hardening: kept role r; hint: why and how"
    assert migrate.server_message_line("WARNING", "a\nb", None) == "server WARNING: a b"
    # pgaudit.log_client echoes statements (values included) to the client: not passed on
    assert migrate.server_message_line("NOTICE", "AUDIT: SESSION,1,1,WRITE,INSERT", None) is None
    assert migrate.server_message_line("LOG", "anything", None) is None
