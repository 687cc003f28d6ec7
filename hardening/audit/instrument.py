"""``instrument(engine)``: each statement the engine runs carries the current actor in the
connection's ``application_name``, set only when it differs from what the server reports.

One ``before_cursor_execute`` listener on the given engine (never on the ``Engine`` class):
before each statement it reads the connection's ``application_name`` as the server last
reported it (a ParameterStatus message libpq keeps: no round trip), composes the one the
running context wants (:func:`hardening.audit.actor.application_name`) and, only when they
differ, sends ``SET application_name`` (``sql/audit/set_application_name.sql``) first. So:

- the statement's text is never touched: the server, psycopg's prepared statements and
  pg_stat_statements see the same text whoever acts, and reuse the same plans;
- a statement costs one extra round trip only when the actor changed on its connection
  (a pool hands a connection to a new request, or a rollback undid the last SET, which the
  server reports back); otherwise a few microseconds of Python (see docs/audit.md);
- no stale actor survives a pool checkout: the check runs before every statement.

The SET is sent with ``prepare=False`` so it never fills psycopg's prepared-statement cache.
Only psycopg 3 (``postgresql+psycopg`` and ``postgresql+psycopg_async``) is supported: it
is the kit's driver and exposes the reported value on both its sync and async connections.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from psycopg import AsyncConnection, Connection, sql
from psycopg.pq import TransactionStatus
from sqlalchemy import event, util
from sqlalchemy.engine import Engine

from hardening import sqlfiles
from hardening.audit.actor import application_name, current_encoded, split_application_name
from hardening.errors import AuditError

if TYPE_CHECKING:  # the asyncio extension is imported by those who use it, not by the kit
    from sqlalchemy.ext.asyncio import AsyncEngine

E = TypeVar("E", Engine, "AsyncEngine")

_BASE = "hardening.audit.base_application_name"  # key in the pooled connection's info
_EVENT = "before_cursor_execute"
# SQLAlchemy 2.1 names it await_; 2.0 await_only (2.1 keeps it as an alias).
_await: Any = getattr(util, "await_", None) or util.await_only


def instrument(engine: E) -> E:
    """Carry the current :func:`~hardening.audit.actor` into every statement ``engine`` runs;
    returns ``engine``. Calling it again on the same engine changes nothing.

    Args:
        engine: a SQLAlchemy ``Engine`` or ``AsyncEngine`` using psycopg 3
            (``postgresql+psycopg://`` or ``postgresql+psycopg_async://``); any other driver
            raises :class:`~hardening.errors.AuditError`.

    Example::

        engine = hardening.audit.instrument(create_engine("postgresql+psycopg://app@db/app"))
        with hardening.audit.actor("user:42"), Session(engine) as session:
            session.add(Order(total=10))
            session.commit()  # the INSERT's audit record names actor user:42
    """
    sync_engine = _sync(engine)
    if sync_engine.dialect.driver != "psycopg":
        raise AuditError(
            f"hardening.audit.instrument needs the psycopg 3 driver; this engine uses "
            f"{sync_engine.dialect.name}+{sync_engine.dialect.driver}: use a "
            "postgresql+psycopg:// (or postgresql+psycopg_async://) URL"
        )
    if not event.contains(sync_engine, _EVENT, _before_cursor_execute):
        event.listen(sync_engine, _EVENT, _before_cursor_execute)
    return engine


def uninstrument(engine: Engine | AsyncEngine) -> None:
    """Stop carrying actors on ``engine`` (connections keep the last application name they
    were given until their next SET or their end).

    Args:
        engine: an engine passed to :func:`instrument` before (any other: nothing happens).

    Example::

        uninstrument(engine)
    """
    sync_engine = _sync(engine)
    if event.contains(sync_engine, _EVENT, _before_cursor_execute):
        event.remove(sync_engine, _EVENT, _before_cursor_execute)


def _sync(engine: Engine | AsyncEngine) -> Engine:
    """The engine whose events carry the statements (an AsyncEngine's sync_engine)."""
    sync_engine = getattr(engine, "sync_engine", engine)
    if not isinstance(sync_engine, Engine):
        raise AuditError(
            f"expected a SQLAlchemy Engine or AsyncEngine, not {type(engine).__name__}"
        )
    return sync_engine


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    pooled = conn.connection
    info = pooled.dbapi_connection.info
    current = info.parameter_status("application_name") or ""
    base = pooled.info.get(_BASE)
    if base is None:
        base = pooled.info[_BASE] = split_application_name(current)[0] or ""
    wanted = application_name(base, current_encoded())
    if current == wanted or info.transaction_status == TransactionStatus.INERROR:
        return  # in a failed transaction the statement itself fails, unaudited
    query = sql.SQL(_set_statement()).format(sql.Literal(wanted))
    driver = pooled.driver_connection
    if isinstance(driver, AsyncConnection):
        _await(_set_async(driver, query))
    else:
        assert isinstance(driver, Connection)
        with driver.cursor() as cur:
            cur.execute(query, prepare=False)


async def _set_async(driver: AsyncConnection[Any], query: sql.Composed) -> None:
    async with driver.cursor() as cur:
        await cur.execute(query, prepare=False)


@cache
def _set_statement() -> str:
    """The reviewed statement without its comment lines (they would fill the audit log)."""
    text = sqlfiles.load("audit/set_application_name.sql")
    return " ".join(line for line in text.splitlines() if not line.startswith("--")).strip()
