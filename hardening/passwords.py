"""Password policy, enforced on the client, and SCRAM hashing on the client.

PostgreSQL cannot check a password it never sees, and it should never see one: event
triggers do not fire for ALTER ROLE, and server-side check modules cannot read a verifier
hashed by the client. So ``set_password`` reads the policy from ``hardening.password_policy``
(installed by step h003_password_policy), refuses a password that is too short, contains the
role name, is weak or common (zxcvbn) or was used before (``hardening.password_history``:
salted scrypt digests, keyed with the optional HARDENING_PASSWORD_PEPPER), then hashes it
with SCRAM-SHA-256 here and sends only the verifier, with VALID UNTIL from the policy.
Messages name the role and the rule, never the password.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from zxcvbn import zxcvbn

from hardening import settings
from hardening.ops import HardeningError

SALT_BYTES = 16
# scrypt cost: about 30 ms and 16 MiB per digest; the history holds a few per role.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
STRENGTH_WORDS = ("very weak", "weak", "fair", "strong", "very strong")


class PasswordPolicyError(HardeningError):
    """The password breaks the policy; the message lists the rules, never the password."""


@dataclass(frozen=True)
class Policy:
    min_length: int
    max_age_days: int
    history_depth: int
    min_strength: int
    forbid_role_name: bool


def load_policy(conn: psycopg.Connection[Any]) -> Policy:
    """The policy row of ``hardening.password_policy``."""
    try:
        row = conn.execute(
            "SELECT min_length, max_age_days, history_depth, min_strength, forbid_role_name "
            "FROM hardening.password_policy"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        raise HardeningError(
            "this database has no hardening.password_policy: run `alembic upgrade head` "
            "(step h003_password_policy) first"
        ) from None
    if row is None:
        raise HardeningError("hardening.password_policy is empty: downgrade and upgrade h003")
    return Policy(*row)


def problems(policy: Policy, role: str, password: str) -> list[str]:
    """The rules ``password`` breaks for ``role``, without the database (no reuse check)."""
    found: list[str] = []
    if "\x00" in password:
        # libpq hashes a C string: the role would get the part before the NUL, unchecked
        found.append("contains a NUL character, which PostgreSQL passwords cannot hold")
    if len(password) < policy.min_length:
        found.append(f"shorter than {policy.min_length} characters")
    if policy.forbid_role_name and len(role) >= 3 and role.lower() in password.lower():
        found.append("contains the role name")
    score = int(zxcvbn(password[:100], user_inputs=[role])["score"])
    if score < policy.min_strength:
        found.append(
            f"too easy to guess ({STRENGTH_WORDS[score]}; the policy asks for "
            f"{STRENGTH_WORDS[policy.min_strength]}: use more unrelated words)"
        )
    return found


def history_digest(password: str, salt: bytes, pepper: str | None = None) -> bytes:
    """Salted scrypt of ``password``, keyed with the pepper (HARDENING_PASSWORD_PEPPER) if set."""
    key = (settings.get("password_pepper") if pepper is None else pepper).encode()
    stretched = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return hmac.new(key, stretched, hashlib.sha256).digest()


def _reused(conn: psycopg.Connection[Any], policy: Policy, role: str, password: str) -> bool:
    if policy.history_depth == 0:
        return False
    rows = conn.execute(
        "SELECT salt, digest FROM hardening.password_history WHERE rolname = %s "
        "ORDER BY set_at DESC, id DESC LIMIT %s",
        (role, policy.history_depth),
    ).fetchall()
    return any(hmac.compare_digest(history_digest(password, salt), digest) for salt, digest in rows)


def set_password(conn: psycopg.Connection[Any], role: str, password: str) -> datetime | None:
    """Check ``password`` against the policy, then ALTER ROLE with a client-side SCRAM verifier.

    Returns the VALID UNTIL set (None when the policy sets no maximum age). Runs in one
    transaction: the password and its history entry change together or not at all.
    """
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists is None:
            raise HardeningError(f"role {role!r} does not exist")
        policy = load_policy(conn)
        found = problems(policy, role, password)
        if _reused(conn, policy, role, password):
            found.append(f"used before (the last {policy.history_depth} passwords are kept)")
        if found:
            raise PasswordPolicyError(
                f"password for role {role!r} rejected: " + "; ".join(found) + ". Choose another."
            )
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
        valid_until: datetime | None = None
        if policy.max_age_days:
            row = conn.execute(
                "SELECT now() + make_interval(days => %s)", (policy.max_age_days,)
            ).fetchone()
            assert row is not None
            valid_until = row[0]
        _quiet_statement_logging(conn)
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {} VALID UNTIL {}").format(
                sql.Identifier(role),
                sql.Literal(verifier.decode()),
                sql.Literal(valid_until.isoformat() if valid_until else "infinity"),
            )
        )
        _remember(conn, policy, role, password)
    return valid_until


def _quiet_statement_logging(conn: psycopg.Connection[Any]) -> None:
    """Keep the SCRAM verifier out of the server log for the rest of this transaction.

    A verifier is not the password, but it can be attacked offline; ``log_statement`` (ddl or
    all), a slow-statement or an error-statement line would write the ALTER ROLE text. These
    settings are superuser-only, so a CREATEROLE non-superuser cannot quiet them (documented).
    pgaudit's ROLE line is not touched: it records the change with the password redacted.
    """
    row = conn.execute("SELECT current_setting('is_superuser')").fetchone()
    if row is not None and row[0] == "on":
        conn.execute(
            "SELECT set_config('log_statement', 'none', true), "
            "set_config('log_min_duration_statement', '-1', true), "
            "set_config('log_min_error_statement', 'panic', true)"
        )


def _remember(conn: psycopg.Connection[Any], policy: Policy, role: str, password: str) -> None:
    """Add the new password's digest and keep only the newest ``history_depth`` entries."""
    if policy.history_depth:
        salt = os.urandom(SALT_BYTES)
        conn.execute(
            "INSERT INTO hardening.password_history (rolname, salt, digest) VALUES (%s, %s, %s)",
            (role, salt, history_digest(password, salt)),
        )
    conn.execute(
        "DELETE FROM hardening.password_history WHERE rolname = %s AND id NOT IN ("
        "SELECT id FROM hardening.password_history WHERE rolname = %s "
        "ORDER BY set_at DESC, id DESC LIMIT %s)",
        (role, role, policy.history_depth),
    )
