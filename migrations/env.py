"""Alembic environment of pg-hardening.

Target: what is handed in through ``config.attributes["connection"]`` (the convention of
pytest-alembic and of alembic's cookbook): a ``Connection`` (whose transaction the caller
owns), or an ``Engine`` or any object with ``connect()`` (a wrapper around either); else
``-x url=...``, else DATABASE_URL. Versions are kept in
``hardening_version`` so the kit never touches an application's ``alembic_version``.

One run is one transaction: a step that lacks a privilege (or a server without pgaudit)
stops the run and rolls back every earlier step of it, so nothing changes. Concurrent runs
against one database serialise on a session advisory lock taken before alembic reads the
version table: one applies, the others wait, then find nothing to do. Errors become one
``alembic: ...`` line (plus the fix), never a driver traceback. NOTICEs and WARNINGs the server
sends during a run (a role kept on downgrade, a planner cost left as it was) are passed on as
``server NOTICE: ...`` lines on stderr: alembic itself never shows them.

Run by the kit itself (``hardening.migrate.config``, which the ``hardening`` command and
``hardening.migrate.upgrade`` use), a failed run raises instead of exiting: the kit's error as
it is, a driver error as one ``MigrationError`` line with the server's hint.
"""

from __future__ import annotations

import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from hardening import migrate, settings
from hardening.errors import HardeningError, MigrationError

VERSION_TABLE = "hardening_version"
# pg_advisory_lock key of the kit's migrations ("pg-hard" in ASCII); locks are per database.
ADVISORY_LOCK_KEY = 0x70672D68617264
config = context.config
x_args = context.get_x_argument(as_dictionary=True)
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection | None = None, **kw: object) -> None:
    context.configure(
        connection=connection,
        version_table=VERSION_TABLE,
        transaction_per_migration=False,
        target_metadata=None,
        **kw,  # type: ignore[arg-type]
    )


def _run_and_check() -> None:
    """Run the migrations, then (still in their transaction) refuse a server_profile setting
    that the already applied server-profile step did not follow, rather than ignore it silently.

    Before: alembic creates its version table first thing (unless it exists or the command
    only reads), so a role without CREATE on the schema gets the plain answer of the server
    there, before the kit's first step could name what it needs; refuse with the privilege named.
    After an upgrade: name the -x values given for steps applied before, which took no effect."""
    migration = context.get_context()
    if migration.connection is not None and not migration.opts.get("dont_mutate"):
        refusal = migrate.version_table_refusal(migration.connection, VERSION_TABLE)
        if refusal:
            raise MigrationError(refusal)
    applied_before = migrate.applied_revisions(migration)
    context.run_migrations()
    migrate.check_server_profile()
    # Settings for steps applied before this run took no effect: said, not refused, so that
    # a repeated deploy with the same values passes (and stays quiet, as they match).
    if getattr(migration.opts.get("fn"), "__name__", "") == "upgrade":
        unapplied = migrate.settings_without_effect(migration, x_args, applied_before)
        if unapplied:
            print(unapplied, file=sys.stderr, flush=True)


def _fail(exc: Exception) -> None:
    """End the run on ``exc``, naming the problem (and the server's hint, if any), never with
    a driver traceback or a statement's parameters: raised for the kit's own callers
    (``config.attributes["run_by_kit"]``), else one ``alembic:`` line and a non-zero exit."""
    if isinstance(exc, DBAPIError):
        diag = getattr(exc.orig, "diag", None)
        primary = getattr(diag, "message_primary", None) or str(exc.orig).strip()
        hint = getattr(diag, "message_hint", None)
        if config.attributes.get("run_by_kit"):
            text = f"{primary}; hint: {hint}" if hint else primary
            raise MigrationError(" ".join(text.split())) from None
        sys.exit(f"alembic: {primary.splitlines()[0]}" + (f"\n{hint}" if hint else ""))
    if config.attributes.get("run_by_kit"):
        raise exc
    sys.exit(f"alembic: {exc}")


def run_offline() -> None:
    """``alembic upgrade head --sql``: SQL for review; a URL only selects the dialect."""
    url = settings.database_url(x_args)
    _configure(
        url=url or "postgresql+psycopg://", literal_binds=True, dialect_opts={"paramstyle": "named"}
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    handed_in = config.attributes.get("connection")
    if isinstance(handed_in, Connection):
        _run_in(handed_in)
        return
    connect = getattr(handed_in, "connect", None)  # an Engine, or a wrapper offering it
    if callable(connect):
        with connect() as connection:
            if connection.in_transaction():  # a live connection: its owner's transaction
                _run_in(connection)
            else:
                _run_locked(connection)
        return
    url = settings.database_url(x_args)
    if url is None:
        sys.exit("alembic: no target database: set DATABASE_URL or pass -x url=postgresql://...")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_locked(connection)
    finally:
        engine.dispose()


def _run_in(connection: Connection) -> None:
    """Run the pending migrations on ``connection``, in the transaction it is in (its owner's,
    or, from ``_run_locked``, the run's own)."""
    _configure(connection)
    with migrate.forwarding_server_messages(connection), context.begin_transaction():
        _run_and_check()


def _run_locked(connection: Connection) -> None:
    """Run in a transaction of this run's own, under the kit's advisory lock."""
    # Session lock, committed at once: alembic then starts its own transaction, and
    # autocommit blocks (which commit it) keep the lock until it is released here.
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    connection.commit()
    try:
        _run_in(connection)
    except BaseException:
        connection.invalidate()  # closing the session releases the lock with it
        raise
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
    connection.commit()


try:
    if context.is_offline_mode():
        run_offline()
    else:
        run_online()
except (HardeningError, DBAPIError) as exc:
    _fail(exc)
