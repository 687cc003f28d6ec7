"""The kit settings a running revision reads, checked: ``-x name=value`` of the running alembic
command first, then ``HARDENING_<NAME>``, then the default (``hardening.settings``).

Every reader refuses a value the step cannot use with ``StepError``, naming the setting and
what it takes, before anything changes. A revision of yours can read the kit's settings too,
for example to grant to the kit's object-audit role::

    from hardening import ops
    from hardening.steps import values

    def upgrade() -> None:
        ops.grant(revision, "SELECT", "table", "public", "users", values.role_setting("audit_role"))
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from alembic import context

from hardening import settings
from hardening.ops import StepError, refuse_if

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


def setting(name: str) -> str:
    """The value of kit setting ``name`` for the running migration, as given.

    Args:
        name: a setting of ``hardening.settings`` (``hardening settings`` lists them).

    Example::

        schema = setting("app_schema")  # 'public' unless -x app_schema=... says otherwise
    """
    x_args: dict[str, str] = context.get_x_argument(as_dictionary=True)
    return settings.get(name, x_args)


def command(verb: str, revision: str, x_values: Sequence[str] = ()) -> str:
    """The command line that runs ``verb revision`` the way the running migration was run, for
    messages that tell what to run next: ``hardening upgrade -x ... head`` when the kit runs
    its own migrations (the ``hardening`` command, ``hardening.migrate``), else ``alembic -x
    ... upgrade head`` (alembic takes ``-x`` before the command, never after it).

    Args:
        verb: ``upgrade`` or ``downgrade``.
        revision: the target (``head``, ``heads``, a revision id).
        x_values: ``name=value`` settings to pass, each quoted for a shell.

    Example::

        command("upgrade", "head", ["server_profile=on"])
        # 'alembic -x server_profile=on upgrade head' in this repository's alembic
        # 'hardening upgrade -x server_profile=on head' from the hardening command
    """
    options = [f"-x {shlex.quote(value)}" for value in x_values]
    if context.config.attributes.get("run_by_kit"):
        return " ".join(["hardening", verb, *options, revision])
    return " ".join(["alembic", *options, verb, revision])


def role_setting(name: str) -> str:
    """A role name from setting ``name``, refused if PostgreSQL would truncate or reject it,
    if it is ``PUBLIC`` or a ``pg_`` role, if another role setting names the same role, or
    (for the roles the kit creates) if it names a superuser or the migrating role.

    Args:
        name: one of ``ROLE_SETTINGS``, e.g. ``"audit_role"``.

    Example::

        readonly = role_setting("readonly_role")  # 'hardening_readonly' by default
    """
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
    of both (a read-only role or the audit reader could write every future table).

    Example::

        refuse_shared_roles()  # -x readonly_role=r -x audit_reader_role=r: StepError
    """
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
    """Setting ``name`` stripped and lower-cased, refused unless it is one of ``allowed``.

    Args:
        name: a setting of ``hardening.settings``.
        allowed: the values it may take, lower case.

    Example::

        client = choice_setting("audit_log_client", BOOLEANS)  # 'off' by default
    """
    value = setting(name).strip().lower()
    if value not in allowed:
        raise StepError(f"setting {name} is {value!r}; expected one of {', '.join(allowed)}")
    return value


def int_setting(name: str, minimum: int, maximum: int = 10**6) -> int:
    """Setting ``name`` as a whole number from ``minimum`` to ``maximum``, in ASCII digits
    (``int()`` would read other scripts' digits, which PostgreSQL would not).

    Args:
        name: a setting of ``hardening.settings``.
        minimum: the smallest value taken.
        maximum: the largest value taken.

    Example::

        length = int_setting("password_min_length", 8, 1024)  # 14 by default
    """
    raw = setting(name).strip()
    if not re.fullmatch(r"[0-9]+", raw) or not minimum <= int(raw) <= maximum:
        raise StepError(
            f"setting {name} is {raw!r}; expected a whole number from {minimum} to {maximum}"
        )
    return int(raw)


def audit_classes(raw: str | None = None) -> str:
    """Setting audit_log (or ``raw``) checked against pgaudit's classes and written as the
    database gets it.

    Args:
        raw: a value to check instead of the setting's.

    Example::

        audit_classes("DDL,role , write")  # 'ddl, role, write'
    """
    raw = setting("audit_log") if raw is None else raw
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
    """One table of setting audit_tables and the privileges the audit role gets on it.

    Args:
        schema: the table's schema.
        table: the table's name.
        privileges: ``SELECT``, ``INSERT``, ``UPDATE`` or ``DELETE``, each once.

    Example::

        AuditGrant("public", "users", ("SELECT",))
    """

    schema: str
    table: str
    privileges: tuple[str, ...]


def audit_grants(raw: str | None = None) -> list[AuditGrant]:
    """Setting audit_tables (or ``raw``), ``schema.table:PRIV,PRIV;...`` with the schema
    defaulting to public, as the grants it asks for.

    Args:
        raw: a value to read instead of the setting's.

    Example::

        audit_grants("users:SELECT")  # [AuditGrant('public', 'users', ('SELECT',))]
    """
    raw = setting("audit_tables") if raw is None else raw
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
