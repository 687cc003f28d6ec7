"""The ``hardening`` command's error contract: one line on stderr, exit 2, no traceback, and
never a password, key or plaintext, whatever goes wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hardening.cli import command_names
from hardening.keys import generate_entry
from hardening.testing.plugin import PgDatabase

PASSWORD = "s3cret-Pass-word"  # a password that must never be printed
UNREACHABLE = f"postgresql://app:{PASSWORD}@127.0.0.1:1/app"


def hardening(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HARDENING_", "DATABASE"))}
    return subprocess.run(
        [sys.executable, "-m", "hardening.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert PASSWORD not in proc.stderr + proc.stdout
    for text in expected:
        assert text in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--url", UNREACHABLE),
        ("rotate", "--url", UNREACHABLE, "--table", "t", "--column", "c"),
        ("audit", "--url", UNREACHABLE, "postgresql.log"),
    ],
    ids=["verify", "rotate", "audit"],
)
def test_an_unreachable_server_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    proc = hardening(*args, HARDENING_KEYS=generate_entry("k1"))
    assert_one_line_error(proc, f"hardening {args[0]}:", "127.0.0.1")


def test_rotate_reports_malformed_keys_before_connecting() -> None:
    proc = hardening(
        "rotate",
        "--url",
        UNREACHABLE,
        "--table",
        "t",
        "--column",
        "c",
        HARDENING_KEYS="k1:not-base64-and-too-short",
    )
    line = assert_one_line_error(proc, "hardening rotate:", "HARDENING_KEYS")
    assert "not-base64-and-too-short" not in line


def test_rotate_of_a_missing_table_names_it(pg_database: PgDatabase) -> None:
    proc = hardening(
        "rotate",
        "--url",
        pg_database.dsn,
        "--table",
        "no_such_table",
        "--column",
        "ssn",
        HARDENING_KEYS=generate_entry("k1"),
    )
    assert_one_line_error(proc, "hardening rotate:", "no_such_table")
    assert proc.stdout == ""


@pytest.mark.parametrize("size", ["0", "-5", "ten"])
def test_rotate_refuses_a_batch_size_below_1_when_parsing_its_arguments(size: str) -> None:
    proc = hardening(
        "rotate",
        *("--url", UNREACHABLE, "--table", "t", "--column", "c", "--batch-size", size),
        HARDENING_KEYS=generate_entry("k1"),
    )
    line = assert_one_line_error(proc, "hardening rotate:", "--batch-size", "at least 1")
    assert "127.0.0.1" not in line  # refused before any connection
    assert proc.stdout == ""


def test_a_usage_error_is_one_line() -> None:
    line = assert_one_line_error(hardening("rotate", "--table", "t"), "hardening rotate:")
    assert "--column" in line
    assert "usage:" not in line


def test_without_a_command_the_usage_is_printed_and_exit_is_2() -> None:
    proc = hardening()
    assert proc.returncode == 2
    assert "usage: hardening" in proc.stderr


def test_verify_and_passwd_accept_a_password_with_spaces_and_url_characters(
    pg_database: PgDatabase,
) -> None:
    import psycopg
    from psycopg import sql

    from hardening import migrate

    role, awkward = f"odd_{os.getpid()}", "pass word %@:/?#&= 'x'"
    migrate.upgrade(pg_database.url, "h003_password_policy")
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(awkward)
            )
        )
    try:
        url = pg_database.url.set(username=role, password=awkward)
        rendered = url.render_as_string(hide_password=False)
        verify = hardening("verify", "--url", rendered, "--only", "ssl_on")
        assert verify.returncode == 0, verify.stderr
        passwd = subprocess.run(
            [sys.executable, "-m", "hardening.cli", "passwd", role, "--password-stdin"],
            input="Correct-Horse-Battery-Staple-2026\n",
            env={**os.environ, "DATABASE_URL": rendered},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert passwd.returncode == 0, passwd.stderr
    finally:
        with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_keygen_with_a_bad_id_prints_nothing_on_stdout() -> None:
    """`export HARDENING_KEYS="$(hardening keygen --id ID),$HARDENING_KEYS"` must not capture
    an error message as a key entry."""
    proc = hardening("keygen", "--id", "not an id")
    assert proc.stdout == ""
    assert_one_line_error(proc, "hardening keygen:", "key id")


ERROR_CASES = {
    "audit": ("audit", "--url", UNREACHABLE, "postgresql.log"),
    "current": ("current", "--url", UNREACHABLE),
    "downgrade": ("downgrade", "base", "--url", UNREACHABLE),
    "history": ("history", "unexpected"),
    "hba": ("hba", "--network", "0.0.0.0/0"),
    "keygen": ("keygen", "--id", "a/b"),
    "passwd": ("passwd", "app", "--password-stdin"),  # no --url, no DATABASE_URL
    "profile": ("profile", "-x", "bogus=1"),
    "rotate": ("rotate", "--url", UNREACHABLE, "--table", "t", "--column", "c"),
    "settings": ("settings", "unexpected"),
    "sql": ("sql", "sideways"),
    "testing-image": ("testing-image", "build", "16"),
    "upgrade": ("upgrade", "--url", UNREACHABLE),
    "verify": ("verify", "--url", UNREACHABLE),
}


@pytest.mark.parametrize("command", sorted(ERROR_CASES))
def test_every_command_reports_errors_on_stderr_only(command: str) -> None:
    proc = hardening(*ERROR_CASES[command], HARDENING_KEYS=generate_entry("k1"))
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.strip()
    assert "Traceback" not in proc.stderr


def test_every_command_has_an_error_case() -> None:
    assert sorted(ERROR_CASES) == command_names()
