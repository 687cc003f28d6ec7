"""Alembic operations: the building blocks of the kit's steps, for your own revisions too.

Each operation emits one call of a function of the ``hardening`` schema (installed by step
``h001_state`` from ``sql/migrations/h001_state/``): the function checks the privilege it
needs, changes the database, and records what was there before in ``hardening.applied`` under
the revision id you pass as ``step``. ``undo(step)`` reverses exactly what ``step`` recorded,
newest first. Because the calls are plain SQL with literal arguments, ``alembic upgrade head
--sql`` shows the same statements a live upgrade runs. Values reach SQL as bound parameters
(literals offline), never formatted in.

A revision of yours, in an application whose Alembic history has the kit as a branch
(``version_locations`` names ``hardening.migrations:versions``; see docs/migrations.md)::

    from hardening import ops

    revision = "a003_reporting"
    down_revision = "a002_orders"
    depends_on = "h001_state"  # the kit's functions exist from here on


    def upgrade() -> None:
        ops.grant(revision, "SELECT", "table", "app", "orders", "reporting")


    def downgrade() -> None:
        ops.undo(revision)

The kit's own steps are built from the same operations (``hardening/steps/``). The settings
the kit reads (role names, ...) are read in a revision with ``hardening.steps.values``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects.postgresql import ARRAY

from hardening import sqlfiles
from hardening.errors import MigrationError

__all__ = [
    "StepError",
    "call",
    "ensure_extension",
    "ensure_role",
    "grant",
    "grant_default",
    "grant_role",
    "refuse_if",
    "replace_function",
    "require",
    "require_pgaudit_loaded",
    "require_settable",
    "revoke",
    "run_sql",
    "set_database_setting",
    "set_function_cost",
    "undo",
]


class StepError(MigrationError, CommandError):
    """A kit step cannot run; the message names the object and the fix (never a secret).

    Also alembic's ``CommandError``, so that alembic's own command line prints it as one
    ``FAILED:`` line when the kit runs as a branch of an application's history.

    Example::

        raise StepError("setting app_schema names schema app, which does not exist: create it")
    """


def call(function: str, *args: str | float | list[str]) -> None:
    """``SELECT hardening.<function>(args...)``: a function of the kit that has no operation
    of its own (``sql/migrations/h001_state/<function>.sql`` documents each).

    Example::

        ops.call("record_system_setting", revision, "log_connections")

    Args:
        function: the function's name in schema ``hardening``.
        args: its arguments, each a parameter (a literal offline): a ``str`` as text, a
            number as real, a list of ``str`` as text[].
    """
    fn = getattr(sa.func.hardening, function)
    op.execute(sa.select(fn(*(_literal(a) for a in args))))


def _literal(value: str | float | list[str]) -> sa.ColumnElement[object]:
    if isinstance(value, list):
        return sa.literal(value, ARRAY(sa.Text))
    if isinstance(value, int | float):
        return sa.literal(value, sa.REAL)
    return sa.literal(value, sa.Text)


def _sql_text(file: str | Path) -> str:
    if isinstance(file, Path):
        return file.read_text(encoding="utf-8")
    return sqlfiles.load(f"migrations/{file}")


def run_sql(file: str | Path) -> None:
    """Run the SQL file ``file`` (statements separated by ``;``, online and in ``--sql`` output
    alike).

    Example::

        ops.run_sql(f"{revision}/tables.sql")

    Args:
        file: a ``str`` names a file of the kit, under ``sql/migrations/`` (a step's frozen
            folder: ``"h003_password_policy/password_policy.sql"``); a ``Path``, a file of yours.
    """
    # alembic ends each statement with ";" in --sql output: the file's own last one would double it
    op.execute(sa.text(_sql_text(file).rstrip().removesuffix(";")))


def require(step: str, *needs: str) -> None:
    """Stop the run unless the migrating role has each privilege in ``needs``; the message
    names the missing one and the statement that grants it.

    Example::

        ops.require(revision, "database_owner", "createrole")

    Args:
        step: your revision id (named in the message).
        needs: any of ``"superuser"``, ``"createrole"``, ``"database_owner"``,
            ``"create_on_database"``; a superuser has them all.
    """
    call("require", step, ",".join(needs))


def ensure_extension(step: str, extension: str, schema: str) -> None:
    """``CREATE EXTENSION extension SCHEMA schema`` unless the extension exists (then it is
    adopted: left where it is, and kept on downgrade). An untrusted extension needs a
    superuser: the message then names the statement a superuser runs first.

    Example::

        ops.ensure_extension(revision, "pg_trgm", "public")

    Args:
        step: your revision id; ``undo(step)`` drops the extension only if this created it.
        extension: the extension's name.
        schema: an existing schema the migrating role may CREATE in.
    """
    call("ensure_extension", step, extension, schema)


def set_function_cost(step: str, extension: str, functions: Sequence[str], cost: float) -> None:
    """``ALTER FUNCTION ... COST cost`` on every arity of the functions of ``extension`` named
    in ``functions``. Functions the migrating role may not alter are left as they are, with
    one server NOTICE per owner naming the statements to run as it.

    Example::

        ops.set_function_cost(revision, "pgcrypto", ["pgp_sym_decrypt"], 1000)

    Args:
        step: your revision id; ``undo(step)`` puts each prior cost back.
        extension: the extension whose functions these are.
        functions: function names (every arity of each is altered).
        cost: the planner cost, in units of ``cpu_operator_cost``.
    """
    call("set_extension_function_cost", step, extension, list(functions), cost)


def require_pgaudit_loaded(step: str) -> None:
    """Stop the run unless the server preloads pgaudit (``shared_preload_libraries``), with a
    message saying how to load it on a plain server, Docker, RDS, Cloud SQL and Azure.

    Example::

        ops.require_pgaudit_loaded(revision)

    Args:
        step: your revision id (named in the message).
    """
    call("require_pgaudit_loaded", step)


def require_settable(step: str, values: Mapping[str, str]) -> None:
    """Stop the run, naming each parameter and the GRANT that fixes it, unless the migrating
    role may ``ALTER DATABASE <current> SET`` every ``name = value`` (each is tried and rolled
    back): a superuser, or a role granted SET on the superuser-only ones (``GRANT SET ON
    PARAMETER``).

    Example::

        ops.require_settable(revision, {"pgaudit.log": "ddl", "log_parameter_max_length": "0"})

    Args:
        step: your revision id (named in the message).
        values: parameter name -> the value to be set.
    """
    call("require_settable", step, list(values), list(values.values()))


def set_database_setting(step: str, name: str, value: str) -> None:
    """``ALTER DATABASE <current> SET name = value``: the database's own value, which sessions
    opened from then on start with.

    Example::

        ops.set_database_setting(revision, "statement_timeout", "30s")

    Args:
        step: your revision id; ``undo(step)`` puts the previous database-level value back
            (or RESETs it).
        name: a parameter the server knows (``pgaudit.log`` once pgaudit is loaded).
        value: its value, as ``SET`` takes it.
    """
    call("set_database_setting", step, name, value)


def ensure_role(step: str, role: str, setting_name: str) -> None:
    """``CREATE ROLE role NOLOGIN`` unless it exists; an existing NOLOGIN role is adopted (kept
    on downgrade), one that can log in is refused. Needs CREATEROLE to create.

    Example::

        ops.ensure_role(revision, "reporting", "reporting_role")

    Args:
        step: your revision id; ``undo(step)`` drops the role if this created it and
            nothing else uses it (else it is kept, with a server NOTICE saying why).
        role: the role's name (quoted as an identifier).
        setting_name: the setting the name came from, named in the refusal's fix.
    """
    call("ensure_role", step, role, setting_name)


def grant_role(step: str, role: str, member: str) -> None:
    """``GRANT role TO member`` unless ``member`` already has ``role``'s privileges; a member
    that would not inherit them (NOINHERIT) is refused.

    Example::

        ops.grant_role(revision, "pg_read_all_settings", "reporting")

    Args:
        step: your revision id; ``undo(step)`` revokes the membership.
        role: the role granted.
        member: the role that receives it.
    """
    call("grant_role", step, role, member)


def grant(step: str, privilege: str, kind: str, schema: str, name: str, grantee: str) -> None:
    """``GRANT privilege ON <object> TO grantee`` unless ``grantee`` holds it directly; the run
    stops if the migrating role may not grant it (neither owner nor holder WITH GRANT OPTION).

    Example::

        ops.grant(revision, "SELECT", "table", "app", "orders", "reporting")
        ops.grant(revision, "USAGE", "schema", "app", "", "reporting")
        ops.grant(revision, "CONNECT", "database", "", "", "reporting")

    Args:
        step: your revision id; ``undo(step)`` revokes exactly what this granted.
        privilege: ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``, ``TRUNCATE``,
            ``REFERENCES``, ``TRIGGER``, ``USAGE``, ``CREATE``, ``CONNECT`` or ``TEMPORARY``.
        kind: ``"table"``, ``"schema"`` or ``"database"`` (the current database).
        schema: the table's schema, or the schema itself; ``""`` for the database.
        name: the table; ``""`` for a schema or the database.
        grantee: a role, or ``"PUBLIC"``.
    """
    call("grant_privilege", step, kind, schema, name, privilege, grantee)


def revoke(step: str, privilege: str, kind: str, schema: str, name: str, grantee: str) -> None:
    """``REVOKE privilege ON <object> FROM grantee`` if it holds it directly; the run stops if
    the privilege stays (the migrating role does not own the object).

    Example::

        ops.revoke(revision, "CREATE", "schema", "public", "", "PUBLIC")

    Args:
        step: your revision id; ``undo(step)`` grants back exactly what this revoked.
        privilege: as for ``grant``.
        kind: ``"table"``, ``"schema"`` or ``"database"``.
        schema: the table's schema, or the schema itself; ``""`` for the database.
        name: the table; ``""`` for a schema or the database.
        grantee: a role, or ``"PUBLIC"``.
    """
    call("revoke_privilege", step, kind, schema, name, privilege, grantee)


def grant_default(
    step: str, privilege: str, objects: str, schema: str, grantee: str, owner: str
) -> None:
    """``ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA schema GRANT privilege ON objects
    TO grantee``: what ``owner``'s future tables (or sequences) in ``schema`` grant.

    Example::

        ops.grant_default(revision, "SELECT", "TABLES", "app", "reporting", "")

    Args:
        step: your revision id; ``undo(step)`` revokes the default privilege.
        privilege: as for ``grant``.
        objects: ``"TABLES"`` or ``"SEQUENCES"``.
        schema: an existing schema.
        grantee: the role that gets the privilege.
        owner: the role that will create the objects; ``""`` for the migrating role, which
            must be a member of ``owner``.
    """
    call("grant_default_privilege", step, owner, schema, objects, privilege, grantee)


def refuse_if(condition: str, message: str, hint: str, errcode: str, **values: str) -> None:
    """Stop the run with ``message`` (and ``hint``) if the SQL ``condition`` holds. A DO block,
    so ``--sql`` output refuses the same way when it runs.

    Example::

        ops.refuse_if(
            "NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = :schema)",
            "schema app does not exist",
            "create it first; nothing was changed",
            "invalid_schema_name",
            schema="app",
        )

    Args:
        condition: a SQL boolean expression; ``:name`` stands for ``values[name]``.
        message: the error's message: name the object.
        hint: the error's hint: name the fix.
        errcode: a PostgreSQL condition name, e.g. ``"insufficient_privilege"``.
        values: text values the condition reads, quoted as literals.
    """
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


# CREATE [OR REPLACE] FUNCTION at the start of a line, and a body in dollar quotes.
_CREATE_FUNCTION = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\b", re.IGNORECASE | re.M)
_BODY = re.compile(r"\bAS\s+(\$\w*\$)(.*?)\1", re.IGNORECASE | re.DOTALL)


def _function_definition(file: str | Path) -> tuple[str, str]:
    """(``CREATE OR REPLACE FUNCTION ...`` from ``file``, the body it defines)."""
    text = _sql_text(file)
    body = _BODY.search(text)
    if len(_CREATE_FUNCTION.findall(text)) != 1 or body is None:
        raise StepError(
            f"pg-hardening: {file} must define exactly one function, starting a line with "
            "CREATE FUNCTION (or CREATE OR REPLACE FUNCTION), its body in dollar quotes"
        )
    return _CREATE_FUNCTION.sub("CREATE OR REPLACE FUNCTION", text, count=1), body.group(2)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_BODY_IS = (
    "(SELECT encode(sha256(convert_to(prosrc, 'UTF8')), 'hex') FROM pg_proc "
    "WHERE oid = to_regprocedure(:function)) IS DISTINCT FROM :digest"
)


def replace_function(step: str, function: str, new: str | Path, old: str | Path) -> None:
    """Replace ``function``'s definition, which the database must hold as ``old`` defines it,
    with the one in ``new`` (``CREATE OR REPLACE FUNCTION``: its privileges stay). The SQL of
    a released revision never changes: a later revision fixes a function this way, and its
    downgrade puts the old definition back with the same call, ``new`` and ``old`` swapped.

    The run stops, before anything changes, if the function is missing or its body is not
    ``old``'s (it was changed outside the revisions), and after, if ``new`` did not become its
    body (``new`` defines another function or signature).

    Example in the revision after the one that installed ``hardening.undo``::

        UNDO = "hardening.undo(text)"

        def upgrade() -> None:
            ops.replace_function(revision, UNDO, f"{revision}/undo.sql", "h001_state/undo.sql")

        def downgrade() -> None:
            ops.replace_function(revision, UNDO, "h001_state/undo.sql", f"{revision}/undo.sql")

    Args:
        step: your revision id (named in the messages).
        function: the function's signature as ``regprocedure`` reads it, e.g.
            ``"hardening.undo(text)"``.
        new: the file defining the body to install: a ``str`` names a file of the kit
            under ``sql/migrations/``, a ``Path`` a file of yours. It holds one ``CREATE [OR
            REPLACE] FUNCTION`` statement (at the start of a line) with its body in dollar quotes.
        old: the file that defined the body the database holds now, in the same form.
    """
    definition, new_body = _function_definition(new)
    old_body = _function_definition(old)[1]
    refuse_if(
        "to_regprocedure(:function) IS NULL",
        f"pg-hardening: step {step} replaces function {function}, which this database lacks",
        "apply the revision that creates it first; nothing was changed",
        "undefined_function",
        function=function,
    )
    refuse_if(
        _BODY_IS,
        f"pg-hardening: step {step} replaces function {function}, and this database holds "
        f"another body than {old} defines: it was changed outside the revisions",
        f"put back the body of {old} (or find out who changed it), then run again; nothing "
        "was changed",
        "object_not_in_prerequisite_state",
        function=function,
        digest=_sha256(old_body),
    )
    op.execute(sa.text(definition))
    refuse_if(
        _BODY_IS,
        f"pg-hardening: step {step}: {new} did not replace the body of function {function}",
        f"{new} must define {function} itself (same name and argument types); nothing was changed",
        "invalid_function_definition",
        function=function,
        digest=_sha256(new_body),
    )


def undo(step: str) -> None:
    """Reverse everything ``step`` recorded in ``hardening.applied``, newest first: the
    downgrade of a revision built from these operations.

    Example::

        def downgrade() -> None:
            ops.undo(revision)

    Args:
        step: the revision id the operations were given.
    """
    call("undo", step)
