"""Alembic operations behind the kit's revisions, usable from your own revisions too.

Each operation emits one call of a function of the ``hardening`` schema (defined in
``sql/migrations/state.sql`` by step ``h001_state``): the function checks the privilege it
needs, changes the database, and records what was there before in ``hardening.applied``.
``undo(step)`` reverses exactly what ``step`` recorded, newest first. Because the calls are
plain SQL with literal arguments, ``alembic upgrade head --sql`` shows the same statements a
live upgrade runs. Values reach SQL as bound parameters (literals offline), never formatted in.

A revision of yours that uses these operations depends on ``hardening@h001_state``::

    from hardening import ops
    def upgrade() -> None:
        ops.grant("SELECT", "table", "app", "orders", "reporting")   # step = your revision id
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from hardening import settings, sqlfiles
from hardening.errors import MigrationError

ROLE_NAME_MAX_BYTES = 63  # NAMEDATALEN - 1: longer names would be truncated silently
AUDIT_CLASSES = ("read", "write", "function", "role", "ddl", "misc", "misc_set", "all", "none")
AUDIT_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
LOG_LEVELS = ("debug1", "debug2", "debug3", "debug4", "debug5", "info", "notice", "warning", "log")
BOOLEANS = ("on", "off")
# Settings that name a role: no two may name the same one. The kit creates (or adopts) all but
# table_owner_role, and makes them NOLOGIN.
KIT_ROLE_SETTINGS = (
    "password_admin_role",
    "readonly_role",
    "readwrite_role",
    "audit_role",
    "audit_reader_role",
)
ROLE_SETTINGS = (*KIT_ROLE_SETTINGS, "table_owner_role")


class StepError(MigrationError, CommandError):
    """A kit step cannot run; the message names the object and the fix (never a secret).

    Also alembic's ``CommandError``, so that alembic's own command line prints it as one
    ``FAILED:`` line when the kit runs as a branch of an application's history."""


# ---------------------------------------------------------------------------------------------
# Settings, read from `-x name=value` of the running alembic command, then HARDENING_*, defaults


def setting(name: str) -> str:
    """The value of kit setting ``name`` for the running migration."""
    x_args: dict[str, str] = context.get_x_argument(as_dictionary=True)
    return settings.get(name, x_args)


def role_setting(name: str) -> str:
    """A role name from setting ``name``; refuses names PostgreSQL would truncate or reject."""
    value = setting(name)
    if not value or len(value.encode()) > ROLE_NAME_MAX_BYTES or "\x00" in value:
        raise StepError(
            f"setting {name} must be a role name of 1 to {ROLE_NAME_MAX_BYTES} bytes "
            f"(got {len(value.encode())} bytes)"
        )
    if value.upper() == "PUBLIC" or value.startswith("pg_"):
        raise StepError(f"setting {name} cannot name PUBLIC or a pg_ role: choose another")
    refuse_shared_roles()
    if name in KIT_ROLE_SETTINGS:
        refuse_if(
            "EXISTS (SELECT FROM pg_roles WHERE rolname = :role "
            "AND (rolsuper OR rolname IN (current_user, session_user)))",
            f"pg-hardening: setting {name} names role {value}, a superuser or the role running "
            "this migration; the kit makes its roles NOLOGIN (and grants them privileges), so it "
            "never takes such a role",
            f"choose a role of its own with -x {name}=... (default "
            f"{settings.SETTINGS[name].default}); nothing was changed",
            "invalid_role_specification",
            role=value,
        )
    return value


def refuse_shared_roles() -> None:
    """Refuse two role settings that name the same role: that role would hold the privileges
    of both (a read-only role or the audit reader could write every future table)."""
    named: dict[str, list[str]] = {}
    for name in ROLE_SETTINGS:
        if value := setting(name):
            named.setdefault(value, []).append(name)
    shared = [
        f"settings {', '.join(names[:-1])} and {names[-1]} "
        f"{'both' if len(names) == 2 else 'all'} name role {role}"
        for role, names in named.items()
        if len(names) > 1
    ]
    if shared:
        raise StepError(
            f"{'; '.join(shared)}: each needs a role of its own, as a shared role holds the "
            "privileges of every setting naming it; pass different names with -x"
        )


def choice_setting(name: str, allowed: Sequence[str]) -> str:
    value = setting(name).strip().lower()
    if value not in allowed:
        raise StepError(f"setting {name} is {value!r}; expected one of {', '.join(allowed)}")
    return value


def int_setting(name: str, minimum: int, maximum: int = 10**6) -> int:
    raw = setting(name).strip()
    if not re.fullmatch(r"[0-9]+", raw) or not minimum <= int(raw) <= maximum:
        raise StepError(
            f"setting {name} is {raw!r}; expected a whole number from {minimum} to {maximum}"
        )
    return int(raw)


def audit_classes() -> str:
    """Setting audit_log checked against pgaudit's classes, e.g. ``ddl, role, write``."""
    raw = setting("audit_log")
    parts = [p.strip().lower() for p in raw.split(",") if p.strip()]
    bad = [p for p in parts if p.lstrip("-") not in AUDIT_CLASSES]
    if not parts or bad:
        raise StepError(
            f"setting audit_log is {raw!r}; use a comma-separated list of "
            f"{', '.join(AUDIT_CLASSES)} (a leading - excludes a class)"
        )
    return ", ".join(parts)


@dataclass(frozen=True)
class AuditGrant:
    schema: str
    table: str
    privileges: tuple[str, ...]


def audit_grants() -> list[AuditGrant]:
    """Setting audit_tables: ``schema.table:PRIV,PRIV;...`` (schema defaults to public)."""
    raw = setting("audit_tables")
    grants: list[AuditGrant] = []
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        target, sep, privs = item.rpartition(":")
        names = tuple(p.strip().upper() for p in privs.split(","))
        if not sep or not target or any(p not in AUDIT_TABLE_PRIVILEGES for p in names):
            raise StepError(
                f"setting audit_tables has {item!r}; expected schema.table:PRIVILEGE[,...] with "
                f"privileges from {', '.join(AUDIT_TABLE_PRIVILEGES)}"
            )
        schema, dot, table = target.partition(".")
        grants.append(AuditGrant(schema if dot else "public", table if dot else schema, names))
    return grants


# ---------------------------------------------------------------------------------------------
# Building blocks: one SQL function call each


def _call(function: str, *args: str) -> None:
    """``SELECT hardening.<function>(args...)`` with the arguments as parameters/literals."""
    fn = getattr(sa.func.hardening, function)
    op.execute(sa.select(fn(*(sa.literal(a, sa.Text) for a in args))))


def install_state() -> None:
    """Create the ``hardening`` schema (unless it exists), ``hardening.applied`` and functions."""
    op.execute(sa.text(sqlfiles.load("migrations/state.sql")))


def remove_state() -> None:
    """Drop what ``install_state`` created; the schema only if it created it."""
    op.execute(sa.text(sqlfiles.load("migrations/state_down.sql")))


def require(step: str, *needs: str) -> None:
    """Fail unless the migrating role has each of: superuser, createrole, database_owner,
    create_on_database; the message names the missing privilege."""
    _call("require", step, ",".join(needs))


def ensure_extension(step: str, extension: str, schema: str) -> None:
    _call("ensure_extension", step, extension, schema)


def require_pgaudit_loaded(step: str) -> None:
    _call("require_pgaudit_loaded", step)


def require_settable(step: str, values: dict[str, str]) -> None:
    """Fail, naming each parameter and the GRANT that fixes it, unless the migrating role may
    ``ALTER DATABASE <current> SET`` every ``name = value`` (tried and rolled back): a superuser,
    or a role granted SET on the superuser-only ones (``GRANT SET ON PARAMETER``)."""
    fn = sa.func.hardening.require_settable
    op.execute(
        sa.select(
            fn(
                sa.literal(step, sa.Text),
                sa.literal(list(values), ARRAY(sa.Text)),
                sa.literal(list(values.values()), ARRAY(sa.Text)),
            )
        )
    )


def set_database_setting(step: str, name: str, value: str) -> None:
    """``ALTER DATABASE <current> SET name = value``; undo restores the previous value."""
    _call("set_database_setting", step, name, value)


def ensure_role(step: str, role: str, setting_name: str) -> None:
    """Create NOLOGIN ``role`` unless it exists (adopted, kept on downgrade)."""
    _call("ensure_role", step, role, setting_name)


def grant_role(step: str, role: str, member: str) -> None:
    _call("grant_role", step, role, member)


def grant(step: str, privilege: str, kind: str, schema: str, name: str, grantee: str) -> None:
    """GRANT ``privilege`` on a database/schema/table (``kind``) to ``grantee``."""
    _call("grant_privilege", step, kind, schema, name, privilege, grantee)


def revoke(step: str, privilege: str, kind: str, schema: str, name: str, grantee: str) -> None:
    """REVOKE ``privilege`` from ``grantee`` (or ``PUBLIC``); undo grants it back."""
    _call("revoke_privilege", step, kind, schema, name, privilege, grantee)


def grant_default(
    step: str, privilege: str, objects: str, schema: str, grantee: str, owner: str
) -> None:
    """ALTER DEFAULT PRIVILEGES FOR ROLE owner (empty: the migrating role) IN SCHEMA schema
    GRANT privilege ON objects."""
    _call("grant_default_privilege", step, owner, schema, objects, privilege, grantee)


def refuse_if(condition: str, message: str, hint: str, errcode: str, **values: str) -> None:
    """Stop the run with ``message`` (and ``hint``) if the SQL ``condition`` holds. ``values``
    reach it as literals (``:name``); a DO block, so ``--sql`` output refuses the same way."""
    literals = {**values, "message": message, "hint": hint}
    tag = "$refuse$"
    while any(tag in v for v in literals.values()):
        tag = tag[:-1] + "_$"
    op.execute(
        sa.text(
            f"DO {tag} BEGIN IF {condition} THEN RAISE EXCEPTION USING MESSAGE = :message, "
            f"HINT = :hint, ERRCODE = '{errcode}'; END IF; END {tag}"
        ).bindparams(
            *(
                sa.bindparam(name, value, type_=sa.Text, literal_execute=True)
                for name, value in literals.items()
            )
        )
    )


def undo(step: str) -> None:
    """Reverse everything ``step`` recorded, newest first."""
    _call("undo", step)


# ---------------------------------------------------------------------------------------------
# The kit's steps: each revision calls one of these


# The pgcrypto functions the kit's PGP types call. They cost 3-9 us a call (measured); pgcrypto
# declares them at the default C-function cost (1), so the planner never decrypts in parallel.
PGCRYPTO_FUNCTIONS = (
    "pgp_sym_encrypt",
    "pgp_sym_encrypt_bytea",
    "pgp_sym_decrypt",
    "pgp_sym_decrypt_bytea",
)


def enable_pgcrypto(step: str) -> None:
    """pgcrypto in setting pgcrypto_schema, unless it is installed already; its PGP functions
    get the planner cost of setting pgcrypto_function_cost (restored on downgrade)."""
    cost = int_setting("pgcrypto_function_cost", 1, 10**6)
    ensure_extension(step, "pgcrypto", setting("pgcrypto_schema"))
    fn = sa.func.hardening.set_extension_function_cost
    op.execute(
        sa.select(
            fn(
                sa.literal(step, sa.Text),
                sa.literal("pgcrypto", sa.Text),
                sa.literal(list(PGCRYPTO_FUNCTIONS), ARRAY(sa.Text)),
                sa.literal(cost, sa.REAL),
            )
        )
    )


def install_password_policy(step: str) -> None:
    """SCRAM for new passwords in this database, the policy + history tables, and the NOLOGIN
    password-admin role (CREATEROLE unless it exists) whose members may use them."""
    values = {
        "min_length": int_setting("password_min_length", 8, 1024),
        "max_age_days": int_setting("password_max_age_days", 0, 36500),
        "history_depth": int_setting("password_history_depth", 0, 100),
        "min_strength": int_setting("password_min_strength", 0, 4),
    }
    admin = role_setting("password_admin_role")
    require(step, "database_owner")
    ensure_role(step, admin, "password_admin_role")
    set_database_setting(step, "password_encryption", "scram-sha-256")
    op.execute(sa.text(sqlfiles.load("migrations/password_policy.sql")))
    columns = ", ".join(values)
    binds = ", ".join(f":{name}" for name in values)
    op.execute(
        sa.text(f"INSERT INTO hardening.password_policy ({columns}) VALUES ({binds})").bindparams(
            **values
        )
    )
    grant(step, "CONNECT", "database", "", "", admin)  # h004 takes CONNECT from PUBLIC
    grant(step, "USAGE", "schema", "hardening", "", admin)
    grant(step, "SELECT", "table", "hardening", "password_policy", admin)
    for privilege in ("SELECT", "INSERT", "DELETE"):  # the identity column needs no sequence
        grant(step, privilege, "table", "hardening", "password_history", admin)


def remove_password_policy(step: str) -> None:
    undo(step)  # first: its grants name the tables the SQL below drops
    op.execute(sa.text(sqlfiles.load("migrations/password_policy_down.sql")))


def apply_least_privilege(step: str) -> None:
    """PUBLIC loses CREATE on schema public and TEMP/CONNECT on the database; read-only and
    read-write NOLOGIN group roles get default privileges on future tables in app_schema."""
    schema = setting("app_schema")
    readonly, readwrite = role_setting("readonly_role"), role_setting("readwrite_role")
    owner = setting("table_owner_role")  # empty: the migrating role
    refuse_if(
        "NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = :schema)",
        f"pg-hardening: setting app_schema names schema {schema}, which does not exist",
        "create it first, or pass -x app_schema=... naming the schema of the application's "
        "tables (default public); nothing was changed",
        "invalid_schema_name",
        schema=schema,
    )
    if owner:
        refuse_if(
            "NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :role)",
            f"pg-hardening: setting table_owner_role names role {owner}, which does not exist",
            "pass -x table_owner_role=... naming the role that creates the application's tables, "
            "or leave it out (the role running the migration); nothing was changed",
            "undefined_object",
            role=owner,
        )
    require(step, "database_owner", "createrole")
    revoke(step, "CREATE", "schema", "public", "", "PUBLIC")
    revoke(step, "TEMPORARY", "database", "", "", "PUBLIC")
    revoke(step, "CONNECT", "database", "", "", "PUBLIC")
    for role, setting_name in ((readonly, "readonly_role"), (readwrite, "readwrite_role")):
        ensure_role(step, role, setting_name)
        grant(step, "CONNECT", "database", "", "", role)
        grant(step, "USAGE", "schema", schema, "", role)
    grant_default(step, "SELECT", "TABLES", schema, readonly, owner)
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        grant_default(step, privilege, "TABLES", schema, readwrite, owner)
    for privilege in ("USAGE", "SELECT"):
        grant_default(step, privilege, "SEQUENCES", schema, readwrite, owner)


def enable_pgaudit(step: str) -> None:
    """Preflight (pgaudit preloaded, database owner, may set the pgaudit parameters), the
    extension (created unless it exists: by a superuser, as pgaudit is not trusted), then the
    session-audit settings. No superuser needed otherwise: a database owner granted SET on the
    parameters can apply it to a database where pgaudit exists."""
    values = {
        "pgaudit.log": audit_classes(),
        "pgaudit.log_catalog": choice_setting("audit_log_catalog", BOOLEANS),
        "pgaudit.log_parameter": choice_setting("audit_log_parameter", BOOLEANS),
        "pgaudit.log_relation": choice_setting("audit_log_relation", BOOLEANS),
        "pgaudit.log_statement_once": choice_setting("audit_log_statement_once", BOOLEANS),
        "pgaudit.log_level": choice_setting("audit_log_level", LOG_LEVELS),
        "pgaudit.log_client": choice_setting("audit_log_client", BOOLEANS),
    }
    require_pgaudit_loaded(step)
    require(step, "database_owner")
    require_settable(step, values)
    ensure_extension(step, "pgaudit", "public")
    for name, value in values.items():
        set_database_setting(step, name, value)


def create_audit_roles(step: str) -> None:
    """The object-audit role (pgaudit.role) with its per-table grants, and the audit reader.

    Needs database ownership, SET on pgaudit.role, CREATEROLE for roles that do not exist yet,
    ownership (or the grant option) of each audited table, and ADMIN OPTION on
    pg_read_all_settings; each is checked where it is used, with a message naming the fix."""
    auditor, reader = role_setting("audit_role"), role_setting("audit_reader_role")
    grants = audit_grants()
    require(step, "database_owner")
    require_settable(step, {"pgaudit.role": auditor})
    ensure_role(step, auditor, "audit_role")
    set_database_setting(step, "pgaudit.role", auditor)
    for item in grants:
        for privilege in item.privileges:
            grant(step, privilege, "table", item.schema, item.table, auditor)
    ensure_role(step, reader, "audit_reader_role")
    grant_role(step, "pg_read_all_settings", reader)
    grant(step, "CONNECT", "database", "", "", reader)
    grant(step, "USAGE", "schema", "hardening", "", reader)
    for view in ("database_settings", "password_policy", "applied"):
        grant(step, "SELECT", "table", "hardening", view, reader)


def tame_parameter_logging(step: str) -> None:
    """Bind parameters (keys, plaintexts) never reach the server log, errors included."""
    values = {"log_parameter_max_length": "0", "log_parameter_max_length_on_error": "0"}
    require(step, "database_owner")
    require_settable(step, values)
    for name, value in values.items():
        set_database_setting(step, name, value)


# ---------------------------------------------------------------------------------------------
# Server profile: ALTER SYSTEM (cluster-wide, outside transactions), off unless server_profile=on

SERVER_PROFILE_STEP = "h008_server_profile"
SERVER_PROFILE_PREVIOUS = "h007_log_hygiene"  # its down_revision
# The parameters the profile sets; names from hardening.applied become SQL text only if listed.
SERVER_PROFILE_PARAMETERS = (
    "log_connections",
    "log_disconnections",
    "log_line_prefix",
    "log_statement",
    "log_lock_waits",
    "log_min_error_statement",
    "password_encryption",
    "ssl_min_protocol_version",
)
# parameter -> the kit setting its value comes from (the others are fixed)
SERVER_PROFILE_FROM = {
    "log_line_prefix": "server_log_line_prefix",
    "log_statement": "server_log_statement",
    "ssl_min_protocol_version": "server_ssl_min_protocol_version",
}
# Profile values judged by running verify's own control (sql/checks/<parameter>.sql, which reads
# pg_settings) on the value; log_line_prefix is judged by LOG_LINE_PREFIX_NEEDS, tested equal.
SERVER_PROFILE_VERIFIED = ("log_statement", "ssl_min_protocol_version")
# What a log line must say, as `hardening verify` checks it (sql/checks/log_line_prefix.sql):
# (what, the log_line_prefix escapes that record it).
LOG_LINE_PREFIX_NEEDS = (
    ("time", ("%m", "%t", "%n")),
    ("process or session id", ("%p", "%c")),
    ("user", ("%u",)),
    ("database", ("%d",)),
    ("client address", ("%h", "%r")),
)


def log_line_prefix_escapes(prefix: str) -> set[str]:
    """The escapes PostgreSQL expands in ``prefix`` (``%%`` is a literal percent sign, and
    ``%-10u`` pads ``%u``)."""
    return {f"%{m.group(1)}" for m in re.finditer(r"%-?\d*(.)", prefix, re.DOTALL)} - {"%%"}


def log_line_prefix_missing(prefix: str) -> list[str]:
    """What a log line with ``prefix`` would not say, e.g. ``["user (%u)"]``; empty if none."""
    found = log_line_prefix_escapes(prefix)
    return [
        f"{what} ({' or '.join(escapes)})"
        for what, escapes in LOG_LINE_PREFIX_NEEDS
        if not found.intersection(escapes)
    ]


def log_line_prefix_setting() -> str:
    """Setting server_log_line_prefix, refused unless every line says when, which session,
    who, in which database and from where (the verify control log_line_prefix)."""
    prefix = setting("server_log_line_prefix")
    missing = log_line_prefix_missing(prefix)
    if missing:
        wanted = ", ".join(f"{what} ({' or '.join(e)})" for what, e in LOG_LINE_PREFIX_NEEDS)
        raise StepError(
            f"setting server_log_line_prefix is {prefix!r}; log_line_prefix must record {wanted} "
            f"(the verify control log_line_prefix); missing: {', '.join(missing)}"
        )
    return prefix


def refuse_unverified(step: str, parameter: str, value: str) -> None:
    """Stop the run if `hardening verify`'s control ``parameter`` would fail ``value``: its
    query (``sql/checks/<parameter>.sql``) runs with ``pg_settings`` showing ``value`` as the
    server would after ALTER SYSTEM (an enum in the server's spelling)."""
    from hardening.verify.controls import CONTROLS

    control = next(c for c in CONTROLS if c.id == parameter)
    check = sqlfiles.load(f"checks/{parameter}.sql").strip().rstrip(";")
    source = SERVER_PROFILE_FROM[parameter]
    refuse_if(
        "(SELECT c.ok FROM (WITH pg_settings (name, setting, source) AS ("
        "SELECT p.name, coalesce((SELECT v FROM unnest(p.enumvals) AS v "
        "WHERE lower(v) = lower(:value)), :value), 'configuration file' "
        "FROM pg_catalog.pg_settings AS p WHERE p.name = :parameter)\n"
        f"{check}\n) AS c) IS FALSE",
        f"pg-hardening: step {step}: setting {source} is {value!r}, and the verify control "
        f"{control.id} requires that {control.title}: {control.rationale}",
        f"pass -x {source}=... with a value it passes (default "
        f"{settings.SETTINGS[source].default}); nothing was changed",
        "invalid_parameter_value",
        value=value,
        parameter=parameter,
    )


def server_profile_settings() -> dict[str, str]:
    """What the server profile sets with ALTER SYSTEM; the values of kit settings are checked
    by the server in the step (``hardening.check_system_setting``) before anything is changed."""
    return {
        "log_connections": "on",
        "log_disconnections": "on",
        "log_line_prefix": log_line_prefix_setting(),
        "log_statement": setting("server_log_statement").strip(),
        "log_lock_waits": "on",
        "log_min_error_statement": "error",
        "password_encryption": "scram-sha-256",
        "ssl_min_protocol_version": setting("server_ssl_min_protocol_version").strip(),
    }


def apply_server_profile(step: str) -> None:
    """Logging and TLS with ALTER SYSTEM + reload, for a superuser on a self-managed server.

    Every value is checked by the server and the prior values in postgresql.auto.conf are
    recorded (in this run's transaction) before an autocommit block runs ALTER SYSTEM, which
    cannot run inside a transaction: the block commits the run up to here. Should an ALTER
    SYSTEM still fail there, the ones before it are put back and the step's records removed, so
    the database stays at the previous revision with nothing of this step applied. Refused
    where ALTER SYSTEM is not allowed (managed services, allow_alter_system = off).
    """
    if choice_setting("server_profile", BOOLEANS) != "on":
        return
    values = server_profile_settings()
    require(step, "superuser")
    op.execute(sa.text(sqlfiles.load("migrations/server_profile_check.sql")))
    for name, value in values.items():
        _call("check_system_setting", step, name, value, SERVER_PROFILE_FROM.get(name, ""))
    for name in SERVER_PROFILE_VERIFIED:
        refuse_unverified(step, name, values[name])
    for name in values:
        _call("record_system_setting", step, name)
    if context.is_offline_mode():
        with op.get_context().autocommit_block():
            for name, value in values.items():
                op.execute(_alter_system(name, value))
            op.execute(sa.text("SELECT pg_reload_conf()"))
        return
    prior = _recorded_system_settings(step)
    with op.get_context().autocommit_block():
        applied: set[str] = set()
        for name, value in values.items():
            try:
                op.execute(_alter_system(name, value))
            except DBAPIError as exc:
                _abandon_server_profile(step, name, exc, [p for p in prior if p[0] in applied])
            applied.add(name)
        op.execute(sa.text("SELECT pg_reload_conf()"))


def _alter_system(name: str, value: str) -> sa.TextClause:
    """ALTER SYSTEM SET name = 'value': utility statements take no bind parameters, so the
    value is rendered as a quoted literal; ``name`` is one of the profile's constant names."""
    if name not in SERVER_PROFILE_PARAMETERS:
        raise StepError(f"hardening.applied records an unknown setting {name!r}")
    literal = sa.bindparam("value", value, type_=sa.Text, literal_execute=True)
    return sa.text(f"ALTER SYSTEM SET {name} = :value").bindparams(literal)


def _recorded_system_settings(step: str) -> list[tuple[str, str | None]]:
    """(parameter, its recorded prior ALTER SYSTEM value or None), newest record first."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT target->>'setting', prior->>'value' FROM hardening.applied "
            "WHERE step = :step AND kind = 'system_setting' ORDER BY seq DESC"
        ).bindparams(step=step)
    )
    return [(str(name), value) for name, value in rows]


def _put_back_system_settings(prior: list[tuple[str, str | None]]) -> None:
    """Inside an autocommit block: each parameter back to its prior value (or RESET), reload."""
    for name, value in prior:
        if value is None:
            if name not in SERVER_PROFILE_PARAMETERS:
                raise StepError(f"hardening.applied records an unknown setting {name!r}")
            op.execute(sa.text(f"ALTER SYSTEM RESET {name}"))
        else:
            op.execute(_alter_system(name, value))
    op.execute(sa.text("SELECT pg_reload_conf()"))


def _forget_system_settings(step: str) -> None:
    op.execute(
        sa.text(
            "DELETE FROM hardening.applied WHERE step = :step AND kind = 'system_setting'"
        ).bindparams(step=step)
    )


def _abandon_server_profile(
    step: str, failed: str, exc: DBAPIError, applied: list[tuple[str, str | None]]
) -> NoReturn:
    """An ALTER SYSTEM failed after the run was committed: put back what the profile changed,
    forget the step's records, and stop with the server's reason."""
    reason = _server_message(exc)
    try:
        _put_back_system_settings(applied)
        _forget_system_settings(step)
    except DBAPIError as again:
        raise StepError(
            f"pg-hardening: step {step} stopped at ALTER SYSTEM SET {failed} ({reason}), and "
            f"putting back the settings it had changed failed too ({_server_message(again)}): "
            f"check postgresql.auto.conf (ALTER SYSTEM RESET ...), then "
            f"DELETE FROM hardening.applied WHERE step = '{step}'"
        ) from exc
    raise StepError(
        f"pg-hardening: step {step} stopped at ALTER SYSTEM SET {failed}: {reason}. "
        "The settings it had changed are back as they were and the step is not recorded; the "
        "steps before it stay applied (ALTER SYSTEM cannot run in a transaction, so the run was "
        "committed up to this step). Fix the cause and run the upgrade with server_profile=on "
        "again"
    ) from exc


def _server_message(exc: DBAPIError) -> str:
    diag = getattr(exc.orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return str(primary or str(exc.orig).splitlines()[0])


def check_server_profile() -> None:
    """Call in env.py after ``context.run_migrations()``, inside the run's transaction.

    Fails when the setting server_profile asks for what the applied step h008 did not do.
    Alembic never runs an applied step again, so without this check ``upgrade head -x
    server_profile=on`` on a database at head would do nothing, silently. ``server_profile=off``
    counts only when passed (-x or HARDENING_SERVER_PROFILE), since it is the default. Commands
    that change no revision (``alembic current``) are not checked.
    """
    if context.is_offline_mode():
        return
    migration = context.get_context()
    connection = migration.connection
    if "destination_rev" not in migration.opts or migration.script is None or connection is None:
        return
    if not any(
        script.revision == SERVER_PROFILE_STEP
        for head in migration.get_current_heads()
        for script in migration.script.iterate_revisions(head, "base")
    ):
        return
    wanted = choice_setting("server_profile", BOOLEANS)
    x_args: dict[str, str] = context.get_x_argument(as_dictionary=True)
    if wanted == "off" and not settings.given("server_profile", x_args):
        return
    profile_set = connection.execute(
        sa.text(
            "SELECT EXISTS (SELECT FROM hardening.applied "
            "WHERE step = :step AND kind = 'system_setting')"
        ).bindparams(step=SERVER_PROFILE_STEP)
    ).scalar()
    heads = "heads" if len(migration.script.get_heads()) > 1 else "head"  # the kit as a branch
    redo = (  # alembic takes -x before the command, never after it
        f"alembic downgrade {SERVER_PROFILE_PREVIOUS}, then "
        f"alembic -x server_profile={wanted} upgrade {heads}"
    )
    if wanted == "on" and not profile_set:
        raise StepError(
            f"pg-hardening: server_profile=on, but step {SERVER_PROFILE_STEP} was applied "
            "earlier with server_profile=off, so the server profile is not set (alembic does "
            f"not run an applied step again). To set it: {redo}"
        )
    if wanted == "off" and profile_set:
        raise StepError(
            f"pg-hardening: server_profile=off, but step {SERVER_PROFILE_STEP} set the server "
            "profile (ALTER SYSTEM) earlier, and it stays set (alembic does not run an applied "
            f"step again). To remove it: {redo}"
        )


def remove_server_profile(step: str) -> None:
    """Put back the recorded ALTER SYSTEM values (or RESET them), reload, forget the records."""
    if context.is_offline_mode():  # SQL cannot ALTER SYSTEM in a transaction: undo() refuses
        undo(step)  # with a message if the profile was applied, and does nothing otherwise
        return
    prior = _recorded_system_settings(step)
    if not prior:
        return
    with op.get_context().autocommit_block():
        _put_back_system_settings(prior)
    _forget_system_settings(step)
