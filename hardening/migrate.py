"""Run the kit's own migrations from Python: the same env.py and versions the CLI uses, and
what that env.py does around a run (server messages, the version table's preflight, the
settings given for steps applied before, ``check_server_profile``)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

import hardening
from hardening import steps
from hardening.errors import HardeningError, MigrationError
from hardening.steps import server_profile, values


def config(url: URL | str | None = None, **x_args: str) -> Config:
    """An Alembic Config for the kit's migrations (its env.py and versions) against ``url``,
    for alembic's own ``command`` functions. A run that fails raises a ``HardeningError`` (one
    line naming the problem and its fix), and messages name ``hardening`` commands.

    Example::

        from alembic import command
        command.history(config())
        command.upgrade(config(url, audit_role="rds_pgaudit"), "head", sql=True)

    Args:
        url: the target database; None where no connection is needed (history, ``--sql``,
            which reads the dialect only).
        x_args: kit settings, as ``-x name=value`` would give them (``hardening settings``
            lists them; secrets come from the environment only).
    """
    location = str(Path(hardening.migrations_location()).parent)
    cfg = Config()
    cfg.set_main_option("script_location", location)
    args = [f"{name}={value}" for name, value in x_args.items()]
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        args.append(f"url={rendered}")
    cfg.cmd_opts = _XArgs(args)  # type: ignore[assignment]
    cfg.attributes["configure_logger"] = False
    # env.py raises a failed run's error instead of exiting, and messages name the hardening
    # command's lines (values.command) instead of alembic's.
    cfg.attributes["run_by_kit"] = True
    return cfg


def upgrade(url: URL | str, target: str = "head", **x_args: str) -> None:
    """``alembic upgrade target`` of the kit's migrations, in one transaction like the CLI's.

    Example::

        hardening.migrate.upgrade("postgresql://owner:pw@db/app", audit_log="ddl, role")

    Args:
        url: the target database (``postgresql://`` is read as psycopg 3).
        target: a revision id, ``head`` or a relative target such as ``+1``.
        x_args: kit settings, as for ``config``.
    :raises HardeningError: one line naming the problem and its fix, when the run is refused
        or a statement fails (nothing changed): ``MigrationError`` (``StepError`` from a step),
        ``SettingsError`` for a setting or URL the kit cannot use.
    """
    run_command("upgrade", config(url, **x_args), target)


def downgrade(url: URL | str, target: str = "base", **x_args: str) -> None:
    """``alembic downgrade target``: back to exactly what the database was before the steps
    above ``target`` (``base``: before the kit).

    Example::

        hardening.migrate.downgrade(url, "h004_least_privilege")

    Args:
        url: the target database.
        target: a revision id, ``base`` or a relative target such as ``-1``.
        x_args: kit settings, as for ``config``; undoing a step reads what its upgrade
            recorded in ``hardening.applied``, not the settings.
    :raises HardeningError: as ``upgrade`` does.
    """
    run_command("downgrade", config(url, **x_args), target)


def run_command(name: str, cfg: Config, *args: Any, **kwargs: Any) -> None:
    """Alembic's command ``name`` (``alembic.command.<name>``) with ``cfg``, its own refusals
    (a revision it cannot find, a target below the database's revision) raised as a one-line
    ``MigrationError``, like the kit's.

    Example::

        run_command("current", config(url), verbose=True)

    Args:
        name: ``upgrade``, ``downgrade``, ``current``, ``history``, ...
        cfg: from ``config``.
        args: the command's positional arguments (a target revision).
        kwargs: its keyword arguments (``sql=True``, ``verbose=True``).
    :raises HardeningError: a kit error as it is; alembic's ``CommandError`` as
        ``MigrationError``.
    """
    try:
        getattr(command, name)(cfg, *args, **kwargs)
    except CommandError as exc:
        if isinstance(exc, HardeningError):  # a step's StepError is both
            raise
        raise MigrationError(" ".join(str(exc).split())) from None


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
    them, never a password or a key (sql/migrations/h001_state/).

    Args:
        severity: the message's severity, not localised (``diag.severity_nonlocalized``).
        primary: its primary text.
        hint: its hint, if any.

    Example::

        server_message_line("NOTICE", "kept role r", None)  # 'server NOTICE: kept role r'
    """
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
    """Once the block has run, write each NOTICE or WARNING the server sent on ``connection``
    while it ran as one line (to stderr by default): alembic itself never shows them. Put the
    block around the run's transaction, so that the lines come once it committed; a block that
    raises writes none, since its transaction rolled back what they speak of (a NOTICE's hint
    about an object the rollback removed would not work when followed).

    Args:
        connection: the connection the migrations run on (psycopg 3; others pass nothing).
        write: what takes each line; None writes it to stderr.

    Example::

        with engine.connect() as connection, forwarding_server_messages(connection):
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    """
    driver: Any = connection.connection.driver_connection
    if not hasattr(driver, "add_notice_handler"):  # not psycopg 3
        yield
        return
    out = write or (lambda line: print(line, file=sys.stderr, flush=True))
    lines: list[str] = []

    def handler(diag: Any) -> None:
        line = server_message_line(
            str(diag.severity_nonlocalized or diag.severity or ""),
            str(diag.message_primary or ""),
            diag.message_hint,
        )
        if line is not None:
            lines.append(line)

    driver.add_notice_handler(handler)
    try:
        yield
    finally:
        driver.remove_notice_handler(handler)
    for line in lines:
        out(line)


def version_table_refusal(connection: Connection, table: str) -> str | None:
    """Why the migrating role cannot create alembic's version table ``table``, which alembic
    creates (unqualified: in the first schema of search_path) before any step runs, so before
    the kit's first step can name what it needs; None when the table exists or may be created.

    Args:
        connection: the connection the migrations will run on.
        table: the version table's name (unqualified).

    Example::

        refusal = version_table_refusal(connection, "hardening_version")
        if refusal:
            raise MigrationError(refusal)
    """
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
        f"alembic's version table {table} (step {steps.named('state').id} then needs CREATE on "
        f"database {database}): run the upgrade as the database owner, or as the schema's owner: "
        f"GRANT CREATE ON SCHEMA {schema} TO {user}"
    )


# The settings whose effect the kit's steps can show, each with the step that reads it, and the
# query telling whether the applied step left a value (hardening.steps.Step.in_effect). Alembic
# runs a revision once: a value given when that revision is applied already takes no effect.
# (server_profile is refused at head by check_server_profile; the server_* values count only
# with it.)
READ_BY: dict[str, str] = {name: step.id for step in steps.STEPS for name in step.in_effect}
IN_EFFECT: dict[str, str] = {
    name: query for step in steps.STEPS for name, query in step.in_effect.items()
}
check_server_profile = server_profile.check_server_profile


def applied_revisions(migration: MigrationContext) -> set[str]:
    """The revisions the database is at, with everything below them.

    Args:
        migration: the running migration context (``context.get_context()`` in env.py).

    Example::

        applied_before = applied_revisions(context.get_context())  # before run_migrations()
    """
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
    """``value`` as the step that reads setting ``name`` writes it into the database."""
    if name == "audit_log":
        return values.audit_classes(value)
    if name == "audit_tables":  # [[schema, table, privilege], ...], as IN_EFFECT reads it
        grants = values.audit_grants(value)
        return json.dumps(sorted({(g.schema, g.table, p) for g in grants for p in g.privileges}))
    return value.strip().lower() if name.startswith("audit_log") else value.strip()


def _in_effect(connection: Connection, name: str, value: str) -> bool | None:
    """Whether ``name=value`` is what the applied revision left; None when it cannot tell.
    Each query runs in a savepoint: a value the query cannot take leaves the run unharmed."""
    try:
        with connection.begin_nested():
            if name not in IN_EFFECT:
                return None
            found = connection.execute(
                text(IN_EFFECT[name]), {"value": _normalised(name, value), "step": READ_BY[name]}
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
    None when there is none: a repeated identical deploy stays quiet.

    Args:
        migration: the migration context of the run, after ``run_migrations()``.
        x_args: the run's ``-x`` values.
        applied_before: ``applied_revisions`` taken before the run.

    Example::

        line = settings_without_effect(context.get_context(), x_args, applied_before)
        if line:
            print(line, file=sys.stderr)
    """
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
    given_values = [f"{n}={v}" for n, v, _ in ignored]
    shown = " ".join(f"-x {shlex.quote(v)}" for v in given_values)
    steps = ", ".join(dict.fromkeys(r for _, _, r in ignored))
    return (
        f"pg-hardening: warning: {shown} took no effect: alembic does not run an applied step "
        f"again ({steps}), and the database holds other values or cannot tell. To apply them: "
        f"{values.command('downgrade', str(before))}, then "
        f"{values.command('upgrade', heads, given_values)} (with the other "
        "-x settings you gave before: the steps after it run again)"
    )
