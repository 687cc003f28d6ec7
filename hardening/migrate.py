"""Run the kit's own migrations from Python: the same env.py and versions the CLI uses, and
what that env.py does around a run (server messages, the version table's preflight)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

import hardening
from hardening import ops
from hardening.errors import HardeningError


def config(url: URL | str | None = None, **x_args: str) -> Config:
    """An Alembic Config for the kit's migrations against ``url``, with ``-x`` settings."""
    location = str(Path(hardening.migrations_location()).parent)
    cfg = Config()
    cfg.set_main_option("script_location", location)
    args = [f"{name}={value}" for name, value in x_args.items()]
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        args.append(f"url={rendered}")
    cfg.cmd_opts = _XArgs(args)  # type: ignore[assignment]
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: URL | str, target: str = "head", **x_args: str) -> None:
    command.upgrade(config(url, **x_args), target)


def downgrade(url: URL | str, target: str = "base", **x_args: str) -> None:
    command.downgrade(config(url, **x_args), target)


class _XArgs:
    """The part of alembic's parsed command line that ``context.get_x_argument`` reads."""

    def __init__(self, x: list[str]) -> None:
        self.x = x


# Severities of the server messages a run passes on (client_min_messages keeps lower ones away).
FORWARDED_SEVERITIES = ("WARNING", "NOTICE")


def server_message_line(severity: str, primary: str, hint: str | None) -> str | None:
    """One line for a NOTICE or WARNING the server sent during a run, marked as the server's;
    None for other severities and for pgaudit's own lines (``pgaudit.log_client``), which
    echo statements: the audit trail, not advice, and in a revision of yours maybe values.
    The kit's SQL raises NOTICEs that name roles, functions and the statements that fix
    them, never a password or a key (sql/migrations/state.sql)."""
    if severity not in FORWARDED_SEVERITIES or primary.startswith("AUDIT: "):
        return None
    text = " ".join(primary.splitlines())
    if hint:
        text += "; hint: " + " ".join(hint.splitlines())
    return f"server {severity}: {text}"


@contextmanager
def forwarding_server_messages(
    connection: Connection, write: Callable[[str], Any] | None = None
) -> Iterator[None]:
    """While the block runs, write each NOTICE or WARNING the server sends on ``connection``
    as one line (to stderr by default): alembic itself never shows them."""
    driver: Any = connection.connection.driver_connection
    if not hasattr(driver, "add_notice_handler"):  # not psycopg 3
        yield
        return
    out = write or (lambda line: print(line, file=sys.stderr, flush=True))

    def handler(diag: Any) -> None:
        line = server_message_line(
            str(diag.severity_nonlocalized or diag.severity or ""),
            str(diag.message_primary or ""),
            diag.message_hint,
        )
        if line is not None:
            out(line)

    driver.add_notice_handler(handler)
    try:
        yield
    finally:
        driver.remove_notice_handler(handler)


def version_table_refusal(connection: Connection, table: str) -> str | None:
    """Why the migrating role cannot create alembic's version table ``table``, which alembic
    creates (unqualified: in the first schema of search_path) before any step runs, so before
    h001_state can name what it needs; None when the table exists or may be created."""
    row = connection.execute(
        text(
            "SELECT to_regclass(quote_ident(:table)) IS NOT NULL, quote_ident(current_user), "
            "quote_ident(current_schema()), "
            "has_schema_privilege(current_schema(), 'CREATE'), "
            "quote_ident(current_database())"
        ),
        {"table": table},
    ).one()
    exists, user, schema, may_create, database = row
    if exists or may_create:
        return None
    if schema is None:
        return (
            f"pg-hardening: alembic's version table {table} needs a schema to be created in, "
            f"and search_path names none that exists: set it for role {user} "
            f"(ALTER ROLE {user} SET search_path = public)"
        )
    return (
        f"pg-hardening: role {user} needs the CREATE privilege on schema {schema} for "
        f"alembic's version table {table} (step h001_state then needs CREATE on database "
        f"{database}): run the upgrade as the database owner, or as the schema's owner: "
        f"GRANT CREATE ON SCHEMA {schema} TO {user}"
    )


# The settings the kit's revisions read, each with the revision that reads it. Alembic runs a
# revision once: a value given when that revision is applied already takes no effect.
# (server_profile is refused at head by ops.check_server_profile; the server_* values count
# only with it.)
READ_BY: dict[str, str] = {
    "pgcrypto_schema": "h002_pgcrypto",
    "pgcrypto_function_cost": "h002_pgcrypto",
    **dict.fromkeys(
        (
            "password_min_length",
            "password_max_age_days",
            "password_history_depth",
            "password_min_strength",
            "password_admin_role",
        ),
        "h003_password_policy",
    ),
    **dict.fromkeys(
        ("app_schema", "readonly_role", "readwrite_role", "table_owner_role"),
        "h004_least_privilege",
    ),
    **dict.fromkeys(
        (
            "audit_log",
            "audit_log_catalog",
            "audit_log_parameter",
            "audit_log_relation",
            "audit_log_statement_once",
            "audit_log_level",
            "audit_log_client",
        ),
        "h005_pgaudit",
    ),
    **dict.fromkeys(("audit_role", "audit_reader_role", "audit_tables"), "h006_audit_roles"),
}
_DEFAULT_ACL_TO = (
    "SELECT EXISTS (SELECT FROM pg_default_acl d, aclexplode(d.defaclacl) a "
    "WHERE d.defaclobjtype = 'r' AND a.privilege_type = '{}' "
    "AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = :value))"
)
_H004_DEFAULTS = (
    "SELECT bool_and({}) FROM hardening.applied "
    "WHERE step = 'h004_least_privilege' AND kind = 'default_privilege_granted'"
)
# Whether what the applied revision left matches :value (the -x value, normalised): true or
# false; NULL (or an error) when the database cannot tell. Read-only catalog queries.
IN_EFFECT: dict[str, str] = {
    "pgcrypto_schema": "SELECT EXISTS (SELECT FROM pg_extension e JOIN pg_namespace n "
    "ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto' AND n.nspname = :value)",
    "pgcrypto_function_cost": "SELECT bool_and(p.procost = CAST(:value AS real)) "
    "FROM pg_extension e JOIN pg_depend d ON d.refobjid = e.oid "
    "AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' JOIN pg_proc p ON p.oid = d.objid "
    f"WHERE e.extname = 'pgcrypto' AND p.proname = ANY (ARRAY{list(ops.PGCRYPTO_FUNCTIONS)})",
    **{
        f"password_{column}": f"SELECT {column} = CAST(:value AS integer) "
        "FROM hardening.password_policy"
        for column in ("min_length", "max_age_days", "history_depth", "min_strength")
    },
    "password_admin_role": "SELECT hardening.holds('table', 'hardening', 'password_history', "
    "'INSERT', :value)",
    "app_schema": _H004_DEFAULTS.format("target->>'schema' = :value"),
    "table_owner_role": _H004_DEFAULTS.format(
        "target->>'owner' = coalesce(nullif(:value, ''), current_user)"
    ),
    "readonly_role": _DEFAULT_ACL_TO.format("SELECT"),
    "readwrite_role": _DEFAULT_ACL_TO.format("INSERT"),
    **{
        name: f"SELECT hardening.database_setting('pgaudit.{name[len('audit_') :]}') = :value"
        for name in READ_BY
        if name.startswith("audit_log")
    },
    "audit_role": "SELECT hardening.database_setting('pgaudit.role') = :value",
    "audit_reader_role": "SELECT hardening.holds('table', 'hardening', 'applied', 'SELECT', "
    ":value)",
}
_AUDIT_GRANTS = (
    "SELECT target->>'schema', target->>'name', target->>'privilege' FROM hardening.applied "
    "WHERE step = 'h006_audit_roles' AND kind = 'privilege_granted' AND target->>'type' = 'table' "
    "AND target->>'grantee' = hardening.database_setting('pgaudit.role')"
)


def applied_revisions(migration: MigrationContext) -> set[str]:
    """The revisions the database is at, with everything below them."""
    script = migration.script
    if script is None:
        return set()
    return {
        rev.revision
        for head in migration.get_current_heads()
        for rev in script.iterate_revisions(head, "base")
        if rev is not None
    }


def _normalised(name: str, value: str) -> str:
    if name == "audit_log":  # as ops.audit_classes writes it
        return ", ".join(p.strip().lower() for p in value.split(",") if p.strip())
    return value.strip().lower() if name.startswith("audit_log") else value.strip()


def _audit_tables_in_effect(connection: Connection) -> bool:
    """Whether the audit role holds exactly the grants of setting audit_tables that step
    h006 made (recorded), or held before."""
    wanted = {(g.schema, g.table, p) for g in ops.audit_grants() for p in g.privileges}
    recorded = {tuple(row) for row in connection.execute(text(_AUDIT_GRANTS))}
    held = connection.execute(
        text(
            "SELECT coalesce(bool_and(hardening.holds('table', s, t, p, "
            "hardening.database_setting('pgaudit.role'))), true) "
            "FROM unnest(CAST(:s AS text[]), CAST(:t AS text[]), CAST(:p AS text[])) AS w(s, t, p)"
        ),
        {k: [w[i] for w in sorted(wanted)] for i, k in enumerate("stp")},
    ).scalar()
    return recorded <= wanted and bool(held)


def _in_effect(connection: Connection, name: str, value: str) -> bool | None:
    """Whether ``name=value`` is what the applied revision left; None when it cannot tell.
    Each query runs in a savepoint: a value the query cannot take leaves the run unharmed."""
    try:
        with connection.begin_nested():
            if name == "audit_tables":
                return _audit_tables_in_effect(connection)
            if name not in IN_EFFECT:
                return None
            found = connection.execute(
                text(IN_EFFECT[name]), {"value": _normalised(name, value)}
            ).scalar()
            return None if found is None else bool(found)
    except (DBAPIError, HardeningError):  # a value the kit would refuse: not in effect
        return None


def settings_without_effect(
    migration: MigrationContext, x_args: Mapping[str, str], applied_before: set[str]
) -> str | None:
    """After an upgrade: one line naming each ``-x`` value given for a revision that was
    applied before the run (so alembic did not run it again) and that differs from what that
    revision left, or cannot be compared; with the downgrade and upgrade that apply them.
    None when there is none: a repeated identical deploy stays quiet."""
    connection, script = migration.connection, migration.script
    if connection is None or script is None:
        return None
    given = [
        (name, value, READ_BY[name])
        for name, value in x_args.items()
        if name in READ_BY and READ_BY[name] in applied_before
    ]
    ignored = [(n, v, r) for n, v, r in given if _in_effect(connection, n, v) is not True]
    if not ignored:
        return None
    order = [rev.revision for rev in script.walk_revisions()]  # newest first
    earliest = max((r for _, _, r in ignored), key=order.index)
    revision = script.get_revision(earliest)
    before = revision.down_revision if revision is not None else None
    heads = "heads" if len(script.get_heads()) > 1 else "head"
    values = " ".join(f"-x {shlex.quote(f'{n}={v}')}" for n, v, _ in ignored)
    steps = ", ".join(dict.fromkeys(r for _, _, r in ignored))
    return (
        f"pg-hardening: warning: {values} took no effect: alembic does not run an applied step "
        f"again ({steps}), and the database holds other values or cannot tell. To apply them: "
        f"alembic downgrade {before}, then alembic {values} upgrade {heads} (with the other "
        "-x settings you gave before: the steps after it run again)"
    )
