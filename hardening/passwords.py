"""Password policy, enforced on the client, and SCRAM hashing on the client.

PostgreSQL cannot check a password it never sees, and it should never see one: event
triggers do not fire for ALTER ROLE, and server-side check modules cannot read a verifier
hashed by the client. So ``set_password`` reads the policy from ``hardening.password_policy``
(installed by the kit's password-policy step), refuses a password that is too short, contains the
role name, is weak or common (zxcvbn) or was used before (``hardening.password_history``:
salted scrypt digests, keyed with HARDENING_PASSWORD_PEPPER), then hashes it with
SCRAM-SHA-256 here and sends only the verifier, with VALID UNTIL from the policy.
Messages name the role and the rule, never the password.

The caller needs CREATEROLE (to ALTER ROLE) and the privileges of the NOLOGIN role of setting
``password_admin_role`` (``hardening_password_admin``) on those tables; without them
``set_password`` stops with the GRANT to run. Without a pepper the history digests are not
keyed: ``set_password`` still works and issues a ``PepperWarning`` each time it stores one.

SCRAM hashes the SASLprep form of a password (``saslprep``), so strings that differ only in
what SASLprep maps away (a no-break space for a space, a soft hyphen, the ligature "ﬁ" for
"fi") are one login password. Every rule but the NUL check therefore judges that form: the
reuse check and the history digests, the length, the role name and the strength.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stringprep
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from zxcvbn import zxcvbn

from hardening import settings, steps
from hardening.errors import PasswordError, PasswordPolicyError, PepperWarning

SALT_BYTES = 16
# scrypt cost: about 30 ms and 16 MiB per digest; the history holds a few per role.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
STRENGTH_WORDS = ("very weak", "weak", "fair", "strong", "very strong")


POLICY_STEP = steps.named("password_policy").id  # the step that installs the policy
NOT_INSTALLED = (
    "this database has no hardening.password_policy: run `hardening upgrade` "
    f"(step {POLICY_STEP}) first"
)

# Whether the current role may use each of the two tables (found by name in the catalog:
# a cast to regclass would already fail without USAGE on schema hardening).
ACCESS_SQL = """
SELECT c.relname,
       has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
       AND (c.relname = 'password_policy'
            OR has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'DELETE'))
FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
WHERE n.nspname = 'hardening' AND c.relname IN ('password_policy', 'password_history')
"""

# The role holding INSERT on the history (the one step h003 made; the configured name first),
# whether the current role belongs to it, and both names quoted for a GRANT statement.
ADMIN_SQL = """
SELECT quote_ident(r.rolname), pg_has_role(current_user, r.oid, 'MEMBER'),
       quote_ident(current_user)
FROM pg_namespace n
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'password_history'
CROSS JOIN LATERAL aclexplode(c.relacl) a
JOIN pg_roles r ON r.oid = a.grantee
WHERE n.nspname = 'hardening' AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
ORDER BY r.rolname = %s DESC, r.rolname
LIMIT 1
"""


@dataclass(frozen=True)
class Policy:
    """The password policy of a database: the row of ``hardening.password_policy`` that step
    h003_password_policy writes from the ``password_*`` settings.

    Args:
        min_length: the fewest characters a password may have, counted in its SASLprep form.
        max_age_days: days from now to the role's VALID UNTIL; 0 sets none (``infinity``).
        history_depth: how many previous passwords of the role cannot be used again; 0 keeps
            no history.
        min_strength: the lowest zxcvbn score accepted, 0 (very weak) to 4 (very strong).
        forbid_role_name: refuse a password that contains the role name (3 characters or
            more, case ignored).

    Example::

        policy = Policy(min_length=14, max_age_days=365, history_depth=5, min_strength=3,
                        forbid_role_name=True)
        problems(policy, "app_user", "app_user-2024")   # three rules broken
    """

    min_length: int
    max_age_days: int
    history_depth: int
    min_strength: int
    forbid_role_name: bool


def load_policy(conn: psycopg.Connection[Any]) -> Policy:
    """The policy row of ``hardening.password_policy``.

    Args:
        conn: a connection to the database, as a role that may read the policy (a member of
            the ``password_admin_role``, see ``require_access``).

    Returns:
        The database's ``Policy``.

    Raises:
        PasswordError: the database has no policy (step h003_password_policy has not run), or
            its table is empty.

    Example::

        with psycopg.connect("postgresql://admin@db/app") as conn:
            policy = load_policy(conn)
        policy.min_length   # 14 with the default settings
    """
    try:
        row = conn.execute(
            "SELECT min_length, max_age_days, history_depth, min_strength, forbid_role_name "
            "FROM hardening.password_policy"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        raise PasswordError(NOT_INSTALLED) from None
    if row is None:
        raise PasswordError(
            f"hardening.password_policy is empty: downgrade and upgrade step {POLICY_STEP}"
        )
    return Policy(*row)


def _prohibited(ch: str) -> bool:
    """RFC 4013 section 2.3 (tables C.1.2 to C.9) and 2.5 (A.1, unassigned in Unicode 3.2)."""
    return (
        stringprep.in_table_c12(ch)
        or stringprep.in_table_c21_c22(ch)
        or stringprep.in_table_c3(ch)
        or stringprep.in_table_c4(ch)
        or stringprep.in_table_c5(ch)
        or stringprep.in_table_c6(ch)
        or stringprep.in_table_c7(ch)
        or stringprep.in_table_c8(ch)
        or stringprep.in_table_c9(ch)
        or stringprep.in_table_a1(ch)
    )


def _bidi_ok(text: str) -> bool:
    """RFC 3454 section 6: with any R/AL character, no L character, and R/AL at both ends."""
    if not any(stringprep.in_table_d1(ch) for ch in text):
        return True
    if any(stringprep.in_table_d2(ch) for ch in text):
        return False
    return stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])


def saslprep(password: str) -> str:
    """``password`` as PostgreSQL's SCRAM hashes it: SASLprep (RFC 4013) the way
    ``pg_saslprep`` (src/common/saslprep.c, used by libpq and the server) applies it.

    Args:
        password: the password as typed.

    Returns:
        The form SCRAM hashes; ``password`` itself where PostgreSQL's SASLprep would fail.

    Example::

        saslprep("pass\\u00a0word")     # "pass word": a no-break space is a space
        saslprep("soft\\u00adhyphen")   # "softhyphen": a soft hyphen is nothing
        saslprep("\\ufb01sh")           # "fish": the ligature is two letters

    Pure ASCII is returned unchanged, unchecked. Otherwise non-ASCII spaces (C.1.2) become
    SPACE and the characters "commonly mapped to nothing" (B.1) are removed, then the result is
    NFKC-normalised. Where PostgreSQL's SASLprep fails, SCRAM falls back to the raw password,
    and so does this function: text that is not valid UTF-8 (a lone surrogate), a mapping that
    leaves nothing, a prohibited or unassigned character, or a bidi violation. Like PostgreSQL,
    those last two are checked on the mapped string before normalisation.
    """
    if password.isascii():
        return password
    if any("\ud800" <= ch <= "\udfff" for ch in password):
        return password  # libpq gets no valid UTF-8 for it either
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else "" if stringprep.in_table_b1(ch) else ch
        for ch in password
    )
    if not mapped or any(_prohibited(ch) for ch in mapped) or not _bidi_ok(mapped):
        return password
    return unicodedata.normalize("NFKC", mapped)


def problems(policy: Policy, role: str, password: str) -> list[str]:
    """The rules ``password`` breaks for ``role``, without the database (no reuse check).

    All but the NUL check judge the SASLprep form, the password SCRAM really hashes: a soft
    hyphen or zero-width joiner is no character of it, so it cannot pad the length, hide the
    role name or a dictionary word from the checks.

    Args:
        policy: the rules, e.g. from ``load_policy``.
        role: the role the password is for (its name is checked against the password).
        password: the candidate password.

    Returns:
        One phrase per broken rule, in words a user can act on; empty when none is broken.
        The password itself is never quoted.

    Example::

        problems(policy, "app_user", "app_user-2024")
        # ['shorter than 14 characters', 'contains the role name', 'too easy to guess (...)']
        problems(policy, "app_user", "correct horse battery staple")   # []
    """
    found: list[str] = []
    if "\x00" in password:
        # libpq hashes a C string: the role would get the part before the NUL, unchecked
        found.append("contains a NUL character, which PostgreSQL passwords cannot hold")
    prepared = saslprep(password)
    if len(prepared) < policy.min_length:
        hint = " once normalised (SASLprep)" if len(password) >= policy.min_length else ""
        found.append(f"shorter than {policy.min_length} characters{hint}")
    name = saslprep(role).lower()
    if policy.forbid_role_name and len(name) >= 3 and name in prepared.lower():
        found.append("contains the role name")
    score = int(zxcvbn(prepared[:100], user_inputs=[role])["score"])
    if score < policy.min_strength:
        found.append(
            f"too easy to guess ({STRENGTH_WORDS[score]}; the policy asks for "
            f"{STRENGTH_WORDS[policy.min_strength]}: use more unrelated words)"
        )
    return found


def history_digest(password: str, salt: bytes, pepper: str | None = None) -> bytes:
    """Salted scrypt of ``password``, keyed with the pepper (HARDENING_PASSWORD_PEPPER) if set.

    Callers pass the SASLprep form (``saslprep``), so equivalent spellings share a digest.

    Args:
        password: the password in its SASLprep form.
        salt: random bytes kept beside the digest (``SALT_BYTES`` of them in the history).
        pepper: the secret key of the digest; None reads the setting ``password_pepper``
            (``HARDENING_PASSWORD_PEPPER``), and an empty pepper leaves the digest unkeyed.

    Returns:
        The 32-byte HMAC-SHA-256, under the pepper, of the password's scrypt.

    Example::

        salt = os.urandom(SALT_BYTES)
        stored = history_digest(saslprep(new_password), salt)
        hmac.compare_digest(history_digest(saslprep(candidate), salt), stored)   # reused?
    """
    key = (settings.get("password_pepper") if pepper is None else pepper).encode()
    stretched = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return hmac.new(key, stretched, hashlib.sha256).digest()


def require_access(conn: psycopg.Connection[Any]) -> None:
    """Fail with the GRANT to run unless the current role may read the policy and keep the
    reuse history (USAGE on schema hardening, SELECT on the policy, SELECT, INSERT, DELETE on
    the history): the privileges of setting ``password_admin_role``, or of the tables' owner.

    Args:
        conn: a connection as the role that will set passwords.

    Raises:
        PasswordError: the policy is not installed, or the role lacks those privileges; the
            message names the GRANT (or ALTER ROLE ... INHERIT) that fixes it.

    Example::

        with psycopg.connect("postgresql://pwadmin@db/app") as conn:
            require_access(conn)   # before prompting for a password nobody could set
    """
    allowed = dict(conn.execute(ACCESS_SQL).fetchall())
    if len(allowed) < 2:
        raise PasswordError(NOT_INSTALLED)
    if all(allowed.values()):
        return
    configured = settings.get("password_admin_role")
    row = conn.execute(ADMIN_SQL, (configured,)).fetchone()
    if row is None:  # nobody holds them (revoked since): name the role step h003 grants them
        row = conn.execute(
            "SELECT quote_ident(%s), false, quote_ident(current_user)", (configured,)
        ).fetchone()
        assert row is not None
    admin, member, me = row
    if member:
        raise PasswordError(
            f"role {me} is a member of {admin} but does not inherit its privileges on the "
            f"password policy: ALTER ROLE {me} INHERIT (PostgreSQL 16+: GRANT {admin} TO {me} "
            "WITH INHERIT TRUE)"
        )
    raise PasswordError(
        f"role {me} may not read the password policy or keep the password history "
        f"(hardening.password_policy, hardening.password_history): as a superuser or a role "
        f"with ADMIN OPTION on {admin}, run GRANT {admin} TO {me}"
    )


def _reused(conn: psycopg.Connection[Any], policy: Policy, role: str, password: str) -> bool:
    if policy.history_depth == 0:
        return False
    rows = conn.execute(
        "SELECT salt, digest FROM hardening.password_history WHERE rolname = %s "
        "ORDER BY set_at DESC, id DESC LIMIT %s",
        (role, policy.history_depth),
    ).fetchall()
    # Entries written before the kit applied SASLprep hold the raw form: a non-ASCII password
    # is also checked as typed, so repeating one of those exactly is still caught.
    forms = dict.fromkeys((saslprep(password), password))
    return any(
        hmac.compare_digest(history_digest(form, salt), digest)
        for salt, digest in rows
        for form in forms
    )


def set_password(conn: psycopg.Connection[Any], role: str, password: str) -> datetime | None:
    """Check ``password`` against the policy, then ALTER ROLE with a client-side SCRAM verifier.

    Runs in one transaction: the password and its history entry change together or not at
    all. The server receives the SCRAM-SHA-256 verifier, never the password.

    Args:
        conn: a connection as a CREATEROLE role that has the privileges of the
            ``password_admin_role`` (``hardening_password_admin``); see ``require_access``.
        role: the name of the role whose password to set, as in ``pg_roles`` (not quoted).
        password: the new password, as typed.

    Returns:
        The VALID UNTIL set, or None when the policy sets no maximum age.

    Raises:
        PasswordError: the role does not exist, the policy is not installed, or ``conn``'s
            role lacks a privilege (the message names the GRANT).
        PasswordPolicyError: the password breaks the policy; the message lists every rule
            broken, never the password.

    Warns:
        PepperWarning: the history digest was stored without HARDENING_PASSWORD_PEPPER.

    Example::

        with psycopg.connect("postgresql://pwadmin@db/app") as conn:
            until = set_password(conn, "app_user", getpass.getpass())
    """
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists is None:
            raise PasswordError(f"role {role!r} does not exist")
        require_access(conn)
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
    if policy.history_depth and not settings.get("password_pepper"):
        warnings.warn(
            "HARDENING_PASSWORD_PEPPER is not set: the reuse-history digest just stored for "
            f"role {role!r} is salted scrypt without a secret key, open to offline guessing by "
            "whoever can read hardening.password_history; set HARDENING_PASSWORD_PEPPER to a "
            "secret kept outside the database",
            PepperWarning,
            stacklevel=2,
        )
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
            (role, salt, history_digest(saslprep(password), salt)),
        )
    conn.execute(
        "DELETE FROM hardening.password_history WHERE rolname = %s AND id NOT IN ("
        "SELECT id FROM hardening.password_history WHERE rolname = %s "
        "ORDER BY set_at DESC, id DESC LIMIT %s)",
        (role, role, policy.history_depth),
    )
