"""Password policy and client-side SCRAM: `set_password` and `hardening passwd ROLE`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pty
import select
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hardening import migrate
from hardening.errors import PasswordError, PasswordPolicyError, PepperWarning
from hardening.passwords import (
    history_digest,
    load_policy,
    saslprep,
    set_password,
)
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from tests.roles import login_roles, unique_roles

GOOD = "correct horse battery staple violin"
PEPPER = "test-pepper-4f1c"


@pytest.fixture(autouse=True)
def pepper(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pepper, as production should have one; the tests of its absence delete it."""
    monkeypatch.setenv("HARDENING_PASSWORD_PEPPER", PEPPER)


@pytest.fixture
def login_role(pg_server: PgServer) -> Iterator[Callable[..., str]]:
    with login_roles(pg_server) as make:
        yield make


@pytest.fixture
def admin_db(pg_database: PgDatabase) -> Iterator[tuple[PgDatabase, str]]:
    """The policy installed with a password-admin role of its own name (not the default)."""
    admin = f"pwadmin_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(pg_database.url, "h003_password_policy", password_admin_role=admin)
    yield pg_database, admin
    migrate.downgrade(pg_database.url, "base", password_admin_role=admin)
    with psycopg.connect(pg_database.dsn) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (admin,))
        assert gone.fetchone() == (0,)


@pytest.fixture
def policy_db(pg_database: PgDatabase) -> PgDatabase:
    """A database with the password policy installed (steps up to h003)."""
    migrate.upgrade(pg_database.url, "h003_password_policy")
    return pg_database


@pytest.fixture
def role(pg_server: PgServer) -> Iterator[str]:
    """A LOGIN role with a throwaway name, dropped after the test."""
    name = f"pw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def connect(db: PgDatabase) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(db.dsn)


def test_policy_is_one_row_read_by_sql_and_python(pg_database: PgDatabase) -> None:
    migrate.upgrade(pg_database.url, "h003_password_policy", password_min_length="20")
    with connect(pg_database) as conn:
        policy = load_policy(conn)
        row = conn.execute("SELECT min_length, max_age_days FROM hardening.password_policy")
        assert row.fetchall() == [(20, 365)]
    assert (policy.min_length, policy.max_age_days, policy.history_depth) == (20, 365, 5)
    assert policy.min_strength == 3


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Tr0ub4dor&3x", "shorter than 14 characters"),
        ("{role}-blue-cactus-ladder", "contains the role name"),
        ("passwordpassword1", "too easy to guess"),
    ],
)
def test_a_password_breaking_the_policy_is_refused_without_echoing_it(
    policy_db: PgDatabase, role: str, password: str, rule: str
) -> None:
    password = password.format(role=role)
    with connect(policy_db) as conn:
        with pytest.raises(PasswordPolicyError) as exc:
            set_password(conn, role, password)
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()
    assert rule in str(exc.value)
    assert role in str(exc.value)
    assert password not in str(exc.value)
    assert stored == (None,)


def test_set_password_stores_a_scram_verifier_valid_until_the_policy_age(
    policy_db: PgDatabase, role: str
) -> None:
    with connect(policy_db) as conn:
        until = set_password(conn, role, GOOD)
        row = conn.execute(
            "SELECT rolpassword, rolvaliduntil FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()
    assert row is not None
    assert row[0].startswith("SCRAM-SHA-256$4096:")
    assert until is not None
    assert row[1] == until
    expected = datetime.now(UTC) + timedelta(days=365)
    assert abs(row[1] - expected) < timedelta(hours=1)
    with psycopg.connect(policy_db.dsn, user=role, password=GOOD) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)


def test_a_reused_password_is_refused_and_history_keeps_no_plaintext(
    policy_db: PgDatabase, role: str
) -> None:
    other = "quartz mango elevator thunder"
    with connect(policy_db) as conn:
        set_password(conn, role, GOOD)
        set_password(conn, role, other)
        with pytest.raises(PasswordPolicyError, match="used before"):
            set_password(conn, role, GOOD)
        rows = conn.execute(
            "SELECT salt, digest FROM hardening.password_history WHERE rolname = %s", (role,)
        ).fetchall()
    assert len(rows) == 2
    for salt, digest in rows:
        for secret in (GOOD, other):
            assert secret.encode() not in bytes(salt) + bytes(digest)


def test_history_digests_are_keyed_with_the_pepper_and_nothing_is_warned(
    policy_db: PgDatabase, role: str
) -> None:
    with connect(policy_db) as conn, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_password(conn, role, GOOD)
        row = conn.execute(
            "SELECT salt, digest FROM hardening.password_history WHERE rolname = %s", (role,)
        ).fetchone()
    assert row is not None
    salt, digest = bytes(row[0]), bytes(row[1])
    assert digest == history_digest(GOOD, salt, pepper=PEPPER)
    assert digest != history_digest(GOOD, salt, pepper="")
    assert [w for w in caught if issubclass(w.category, PepperWarning)] == []


def test_without_a_pepper_the_history_is_unkeyed_and_each_stored_digest_is_warned_about(
    policy_db: PgDatabase, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARDENING_PASSWORD_PEPPER")
    with connect(policy_db) as conn:
        with pytest.warns(PepperWarning) as caught:
            set_password(conn, role, GOOD)
        row = conn.execute(
            "SELECT salt, digest FROM hardening.password_history WHERE rolname = %s", (role,)
        ).fetchone()
        with pytest.raises(PasswordPolicyError, match="used before"):  # reuse still caught
            set_password(conn, role, GOOD)
    assert row is not None
    assert bytes(row[1]) == history_digest(GOOD, bytes(row[0]), pepper="")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "HARDENING_PASSWORD_PEPPER is not set" in message
    assert role in message
    assert GOOD not in message


def test_without_a_history_nothing_is_stored_and_nothing_is_warned(
    pg_database: PgDatabase, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARDENING_PASSWORD_PEPPER")
    migrate.upgrade(pg_database.url, "h003_password_policy", password_history_depth="0")
    with connect(pg_database) as conn, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_password(conn, role, GOOD)
        count = conn.execute("SELECT count(*) FROM hardening.password_history").fetchone()
    assert count == (0,)
    assert [w for w in caught if issubclass(w.category, PepperWarning)] == []


def test_history_is_trimmed_to_the_policy_depth(pg_database: PgDatabase, role: str) -> None:
    migrate.upgrade(pg_database.url, "h003_password_policy", password_history_depth="1")
    with connect(pg_database) as conn:
        set_password(conn, role, GOOD)
        set_password(conn, role, "quartz mango elevator thunder")
        set_password(conn, role, GOOD)  # only the last one is remembered
        count = conn.execute(
            "SELECT count(*) FROM hardening.password_history WHERE rolname = %s", (role,)
        ).fetchone()
    assert count == (1,)


def test_the_server_never_receives_the_plaintext(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    """A CREATEROLE non-superuser cannot quiet log_statement: whatever set_password sends is
    in the log, and it is the SCRAM verifier, never the password. pgaudit redacts it."""
    server = pg_server_factory({"log_statement": "all"})
    suffix = uuid.uuid4().hex[:8]
    roles = unique_roles("np")
    admin, name = f"np_admin_{suffix}", f"pw_{suffix}"
    canary = f"canary-{uuid.uuid4().hex}"
    with server.database() as url, psycopg.connect(server.dsn, autocommit=True) as su:
        migrate.upgrade(url, "head", **roles)
        su.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(admin), sql.Literal(admin)
            )
        )
        su.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(roles["password_admin_role"]), sql.Identifier(admin)
            )
        )
        log = server.log_cursor()
        with psycopg.connect(
            libpq_dsn(url.set(username=admin, password=admin)), autocommit=True
        ) as conn:
            assert conn.execute("SELECT current_setting('is_superuser')").fetchone() == ("off",)
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            conn.execute(sql.SQL("SELECT {}").format(sql.Literal(canary)))
            set_password(conn, name, GOOD)
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        text = log.settle()
        su.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(admin)))
        migrate.downgrade(url, "base", **roles)
    assert canary in text  # log_statement=all really logs what this session sends
    assert f'DROP ROLE "{name}"' in text  # and goes on logging after the password change
    lines = text.splitlines()
    sent = [x for x in lines if f'ALTER ROLE "{name}" PASSWORD' in x and "AUDIT:" not in x]
    assert sent, "log_statement=all logged no ALTER ROLE ... PASSWORD"
    assert all("PASSWORD 'SCRAM-SHA-256$4096:" in x for x in sent), sent
    assert GOOD not in text
    audit = [x for x in lines if "AUDIT: SESSION," in x and ",ROLE,ALTER ROLE," in x]
    assert audit, "pgaudit logged no ROLE line for the ALTER ROLE"
    assert all(f'ALTER ROLE ""{name}"" PASSWORD <REDACTED>' in x for x in audit), audit
    assert not any("SCRAM-SHA-256$" in x for x in audit), audit


def passwd(*args: str, stdin: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardening.cli", "passwd", *args],
        input=stdin,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )


# -- who may set passwords: CREATEROLE plus the password-admin role ------------------------------


def as_login(db: PgDatabase, user: str) -> str:
    return libpq_dsn(db.url.set(username=user, password=user))


def stored_password(db: PgDatabase, role: str) -> str | None:
    with connect(db) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        found = row.fetchone()
    assert found is not None
    return found[0]  # type: ignore[no-any-return]


def test_a_createrole_login_without_the_password_admin_role_is_told_the_grant(
    admin_db: tuple[PgDatabase, str], login_role: Callable[..., str]
) -> None:
    db, admin = admin_db
    user, target = login_role("CREATEROLE"), login_role()
    before = stored_password(db, target)
    with psycopg.connect(as_login(db, user)) as conn, pytest.raises(PasswordError) as exc:
        set_password(conn, target, GOOD)
    message = str(exc.value)
    assert f"GRANT {admin} TO {user}" in message  # the role the database really uses
    assert "\n" not in message
    assert GOOD not in message
    proc = passwd(target, "--password-stdin", stdin=GOOD + "\n", url=as_login(db, user))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"hardening passwd: role {user} may not read the password")
    assert f"GRANT {admin} TO {user}" in proc.stderr
    assert stored_password(db, target) == before


def test_a_member_that_does_not_inherit_the_password_admin_role_is_told_so(
    admin_db: tuple[PgDatabase, str], login_role: Callable[..., str]
) -> None:
    db, admin = admin_db
    user, target = login_role("CREATEROLE", "NOINHERIT"), login_role()
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(admin), sql.Identifier(user)))
    with psycopg.connect(as_login(db, user)) as conn, pytest.raises(PasswordError) as exc:
        set_password(conn, target, GOOD)
    assert f"role {user} is a member of {admin} but does not inherit" in str(exc.value)
    assert f"ALTER ROLE {user} INHERIT" in str(exc.value)


def test_a_createrole_member_of_the_password_admin_role_sets_passwords_and_nothing_more(
    admin_db: tuple[PgDatabase, str], login_role: Callable[..., str]
) -> None:
    db, admin = admin_db
    user = login_role("CREATEROLE")
    target = f"pw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(admin), sql.Identifier(user)))
    with psycopg.connect(as_login(db, user), autocommit=True) as conn:
        # its own role: from PostgreSQL 16 CREATEROLE alters only roles it has ADMIN OPTION on
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(target)))
        try:
            set_password(conn, target, GOOD)
            with pytest.raises(PasswordPolicyError, match="used before"):
                set_password(conn, target, GOOD)
            other = "quartz mango elevator thunder"
            proc = passwd(target, "--password-stdin", stdin=other + "\n", url=as_login(db, user))
            assert proc.returncode == 0, proc.stderr
            with psycopg.connect(db.dsn, user=target, password=other) as as_target:
                assert as_target.execute("SELECT current_user").fetchone() == (target,)
            history = conn.execute(
                "SELECT set_by FROM hardening.password_history WHERE rolname = %s", (target,)
            ).fetchall()
            assert history == [(user,), (user,)]
            for statement in (
                "SELECT * FROM hardening.applied",
                "UPDATE hardening.password_history SET rolname = rolname",
                "UPDATE hardening.password_policy SET min_length = 8",
                "DELETE FROM hardening.password_policy",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(target)))


def test_hardening_passwd_sets_the_password_from_stdin(policy_db: PgDatabase, role: str) -> None:
    proc = passwd(role, "--password-stdin", stdin=GOOD + "\n", url=policy_db.dsn)
    assert proc.returncode == 0, proc.stderr
    assert f"password of role {role} set" in proc.stdout
    assert "valid until" in proc.stdout
    with psycopg.connect(policy_db.dsn, user=role, password=GOOD) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)


def test_hardening_passwd_warns_in_one_line_without_a_pepper(
    policy_db: PgDatabase, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed = passwd(role, "--password-stdin", stdin=GOOD + "\n", url=policy_db.dsn)
    assert keyed.returncode == 0
    assert keyed.stderr == ""
    monkeypatch.delenv("HARDENING_PASSWORD_PEPPER")
    other = "quartz mango elevator thunder"
    proc = passwd(role, "--password-stdin", stdin=other + "\n", url=policy_db.dsn)
    assert proc.returncode == 0, proc.stderr
    assert f"password of role {role} set" in proc.stdout
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("hardening passwd: warning: HARDENING_PASSWORD_PEPPER is not set")
    assert other not in proc.stderr


def test_hardening_passwd_refuses_a_weak_password_in_one_line(
    policy_db: PgDatabase, role: str
) -> None:
    proc = passwd(role, "--password-stdin", stdin="short\n", url=policy_db.dsn)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"hardening passwd: password for role '{role}' rejected")
    assert "short" not in proc.stderr.replace("shorter", "")
    assert "Traceback" not in proc.stderr


def _read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            raise AssertionError(f"no {marker!r} from hardening passwd; got {bytes(seen)!r}")
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        seen.extend(chunk)


def test_hardening_passwd_prompts_twice_without_echo(policy_db: PgDatabase, role: str) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardening.cli", "passwd", role, "--url", policy_db.dsn],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"New password for", seen)
        os.write(master, GOOD.encode() + b"\n")
        _read_until(master, b"Repeat it:", seen)
        os.write(master, GOOD.encode() + b"\n")
        _read_until(master, b"set (SCRAM", seen)
        assert proc.wait(timeout=30) == 0, bytes(seen)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert GOOD.encode() not in seen
    with connect(policy_db) as conn:
        stored = conn.execute(
            "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()
    assert stored == ("SCRAM-SHA-256$",)


def test_a_password_with_a_nul_is_refused_before_it_could_be_cut_short(
    policy_db: PgDatabase, role: str
) -> None:
    """libpq hashes a C string: a NUL would silently end the password there, so the role
    would get the short, unchecked prefix instead of the password the policy approved."""
    weak_prefix = "abc"
    password = weak_prefix + "\x00" + GOOD
    with connect(policy_db) as conn:
        with pytest.raises(PasswordPolicyError, match="NUL") as exc:
            set_password(conn, role, password)
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()
    assert GOOD not in str(exc.value)
    assert stored == (None,)


# -- SASLprep: the password SCRAM hashes, which every rule has to judge -------------------------


@pytest.mark.parametrize(
    ("raw", "prepared"),
    [
        ("I\u00adX", "IX"),  # RFC 4013 3.: soft hyphen mapped to nothing
        ("user", "user"),  # no transformation
        ("USER", "USER"),  # case preserved
        ("\u00aa", "a"),  # NFKC: feminine ordinal indicator
        ("\u2168", "IX"),  # NFKC: roman numeral nine
        ("\u0007", "\u0007"),  # prohibited, but pure ASCII: PostgreSQL passes it unchecked
        # each fallback case holds a character SASLprep would otherwise map ("\u00aa" -> "a")
        ("\u00aa\u0007", "\u00aa\u0007"),  # prohibited character: raw fallback
        ("\u0627\u00a01", "\u0627\u00a01"),  # bidi: R/AL first but not last: raw fallback
        ("\u0627\u00a0\u0628", "\u0627 \u0628"),  # bidi satisfied
        ("\u05d0\u00aa\u05d0", "\u05d0\u00aa\u05d0"),  # R/AL and L mixed: raw fallback
        ("pass\u00a0word", "pass word"),  # non-ASCII space becomes SPACE
        ("x\u200by", "x y"),  # zero width space: C.1.2 wins over B.1, as in PostgreSQL
        ("\ufb01", "fi"),  # NFKC: ligature
        ("\u00ad\u200d", "\u00ad\u200d"),  # nothing left after mapping: raw fallback
        ("\u00aa\u0221", "\u00aa\u0221"),  # unassigned in Unicode 3.2: raw fallback
        # checked before NFKC, as PostgreSQL does: U+03F9 (Unicode 4.0) would normalise to a
        # Sigma that passes, U+0340 (prohibited) to an allowed U+0300
        ("\u00aa\u03f9", "\u00aa\u03f9"),
        ("\u00aa\u0340", "\u00aa\u0340"),
        ("\ud800\u00aa", "\ud800\u00aa"),  # not valid UTF-8: raw fallback
    ],
)
def test_saslprep_follows_rfc_4013_and_postgresql_s_fallback(raw: str, prepared: str) -> None:
    assert saslprep(raw) == prepared


LIBPQ_SAMPLES = [
    "correct\u00a0horse battery staple violin",
    "correct horse bat\u00adtery staple violin",
    "quartz \ufb01ddle elevator thunder",
    "\u2168 \u00aa \u3000 \ufeff \u1806 \ufe0f",
    "cafe\u0301 na\u00efve \u212b",
    "\u0651\u064e",
    "x\u200by \u2000z \u200cw",
    "\u0627\u00a0\u0628",
    # PostgreSQL falls back to the raw password for each of these
    "\u00aa\u0007 prohibited",
    "\u0627\u00a01",
    "\u05d0\u00aa\u05d0",
    "\u00ad\u200d",
    "\u00aa\u0221 unassigned",
    "\u00aa\u03f9 unassigned before NFKC",
    "\u00aa\u0340 prohibited before NFKC",
]


def test_saslprep_matches_the_libpq_that_hashes_the_verifier(pg_database: PgDatabase) -> None:
    """The SCRAM verifier libpq builds for each sample is the verifier of ``saslprep(sample)``
    hashed without any preparation: the two implementations agree, fallbacks included."""
    with connect(pg_database) as conn:
        for sample in LIBPQ_SAMPLES:
            verifier = conn.pgconn.encrypt_password(sample.encode(), b"r", b"scram-sha-256")
            _, params, keys = verifier.decode().split("$")
            iterations, salt = params.split(":")
            stored_key = keys.split(":")[0]
            assert _stored_key(saslprep(sample), salt, int(iterations)) == stored_key, sample
            if saslprep(sample) != sample:  # the check can tell the two forms apart
                assert _stored_key(sample, salt, int(iterations)) != stored_key, sample


def _stored_key(password: str, salt: str, iterations: int) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode()


SPELLINGS = [
    ("correct\u00a0horse battery staple violin", GOOD),
    ("quartz \ufb01ddle elevator thunder", "quartz fiddle elevator thunder"),
    ("correct horse bat\u00adtery staple violin", GOOD),
]


@pytest.mark.parametrize(("fancy", "plain"), SPELLINGS)
@pytest.mark.parametrize("fancy_first", [True, False])
def test_a_spelling_that_saslprep_maps_to_a_used_password_is_refused_as_reused(
    policy_db: PgDatabase, role: str, fancy: str, plain: str, fancy_first: bool
) -> None:
    first, second = (fancy, plain) if fancy_first else (plain, fancy)
    with connect(policy_db) as conn:
        set_password(conn, role, first)
    # it is the same login password: PostgreSQL lets the other spelling in
    with psycopg.connect(policy_db.dsn, user=role, password=second) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with connect(policy_db) as conn, pytest.raises(PasswordPolicyError, match="used before") as exc:
        set_password(conn, role, second)
    assert second not in str(exc.value)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (GOOD, "correct horse battery staple viol\u00edn"),  # an accent is no compatibility form
        # a prohibited BEL makes PostgreSQL hash both raw: the no-break space stays distinct
        (GOOD + "\u0007", "correct\u00a0horse battery staple violin\u0007"),
    ],
)
def test_a_password_that_saslprep_keeps_distinct_is_accepted(
    policy_db: PgDatabase, role: str, first: str, second: str
) -> None:
    with connect(policy_db) as conn:
        set_password(conn, role, first)
        set_password(conn, role, second)
    with psycopg.connect(policy_db.dsn, user=role, password=second) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(policy_db.dsn, user=role, password=first).close()


def test_hardening_passwd_refuses_a_nbsp_spelling_of_a_used_password(
    policy_db: PgDatabase, role: str
) -> None:
    assert passwd(role, "--password-stdin", stdin=GOOD + "\n", url=policy_db.dsn).returncode == 0
    fancy = "correct\u00a0horse battery staple violin"
    proc = passwd(role, "--password-stdin", stdin=fancy + "\n", url=policy_db.dsn)
    assert proc.returncode == 2
    assert "used before" in proc.stderr
    assert fancy not in proc.stderr


def test_a_history_entry_of_the_raw_form_still_catches_an_exact_repeat(
    policy_db: PgDatabase, role: str
) -> None:
    """Entries recorded before the kit applied SASLprep hold the digest of the typed text."""
    typed = "correct\u00a0horse battery staple violin"
    salt = os.urandom(16)
    with connect(policy_db) as conn:
        conn.execute(
            "INSERT INTO hardening.password_history (rolname, salt, digest) VALUES (%s, %s, %s)",
            (role, salt, history_digest(typed, salt)),
        )
        conn.commit()
        with pytest.raises(PasswordPolicyError, match="used before"):
            set_password(conn, role, typed)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Tr0ub4dor&3x\u00ad\u00ad\u00ad", "shorter than 14 characters once normalised"),
        ("\u200d".join("passwordpassword1"), "too easy to guess"),
        ("blue-{role}-cactus-ladder", "contains the role name"),
    ],
)
def test_invisible_characters_neither_pad_nor_disguise_a_password(
    policy_db: PgDatabase, role: str, password: str, rule: str
) -> None:
    """Characters SASLprep removes are no part of the login password: the rules judge it
    without them (a soft hyphen in the role name, zero-width joiners between letters)."""
    password = password.format(role="\u00ad".join(role))
    with connect(policy_db) as conn, pytest.raises(PasswordPolicyError) as exc:
        set_password(conn, role, password)
    assert rule in str(exc.value)
    assert password not in str(exc.value)
