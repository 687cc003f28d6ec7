"""What the kit adds to an engine that uses its types, and when.

Importing the kit adds nothing to SQLAlchemy: no listener on the ``Engine``, ``Dialect`` or
any other class. The hooks go on one engine's dialect (each ``create_engine`` has its own)
while the first statement that uses the kit is compiled for it, so that very statement meets
them: when one of the kit's types is compiled (its DDL, a bind parameter, a result column:
SQLAlchemy calls the type's ``load_dialect_impl``), and when a column of the kit's types or
a blind-index column is rendered anywhere in a statement (``ORDER BY``, ``GROUP BY``, a
comparison of two columns, an alias's or an ORM entity's copy of it: the column is a
``KitColumn``, ``hardening.crypto.kit_column``). Both call ``install``. A plain engine in the
same process never gets them. ``install(engine)`` puts them on explicitly (idempotent), for
an application whose own ``Column`` subclass holds a kit type.

On the dialect (``DialectEvents``, inserted before any other listener):

* ``do_execute`` / ``do_executemany`` / ``do_execute_no_params``: refuse SQL that would
  compare, group or sort ciphertext (``guard.check_compiled``); refuse a pgcrypto statement
  on psycopg's ``ClientCursor``, which writes parameters (the key) into the SQL text; ask
  psycopg for binary results when a result's AEAD columns can be fetched so.
* ``handle_error``: hide the parameters (plaintexts) of an error raised while they are
  processed, and name pgcrypto's failures (``pgcrypto.translate_error``) and a lookup's
  through a blind index made by a key that is gone (``blind_index.translate_error``).

And the dialect's execution context becomes a subclass that fills the blind index of an
UPDATE / ON CONFLICT DO UPDATE that sets an indexed column without it
(``blind_index.fill_updates``): it runs after the statement is compiled and before its
parameters are processed, so it serves the very first statement as well. The same subclass
binds the values of row-bound columns to their rows (``rows.bind_rows``), after SQLAlchemy
computed the statement's client-side defaults and before the parameters are processed. The
engine's logger is wrapped too, so that SQLAlchemy's row log shows the kit's columns as
``[REDACTED]`` (``row_log``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine, ExceptionContext
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.compiler import WARN_LINTING

from hardening.crypto import blind_index, guard, pgcrypto
from hardening.crypto.base import EncryptedBase
from hardening.crypto.blind_index import fill_updates
from hardening.crypto.row_log import redact_rows
from hardening.crypto.rows import bind_rows
from hardening.errors import InlineKeyError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["BINARY_RESULTS", "LISTENERS", "install", "installed"]

# An execution option: fetch this statement's results in binary (the column rewriter's reads
# of stored bytes, whose other columns it knows load the same either way).
BINARY_RESULTS = "hardening_binary_results"

_LOCK = threading.Lock()
_INSTALLED: weakref.WeakSet[Dialect] = weakref.WeakSet()


def install(target: Engine | AsyncEngine | Connection | Dialect) -> None:
    """Put the kit's hooks on ``target``'s dialect (see the module docstring); a second call
    does nothing. Any statement that uses the kit's types or columns puts them on before it
    runs; call it at start-up when a kit type sits in a column of an application's own
    ``Column`` subclass (only plain ``Column`` objects become ``KitColumn``).

    Args:
        target: an ``Engine``, ``AsyncEngine`` or ``Connection``, or a ``Dialect``.

    Example::

        engine = create_engine(url)
        hardening.types.install(engine)   # at start-up, before the first request
    """
    dialect = target if isinstance(target, Dialect) else target.dialect
    if dialect in _INSTALLED:  # every rendering of a kit column asks (kit_column)
        return
    with _LOCK:
        if dialect in _INSTALLED:
            return
        for name, listener in LISTENERS.items():
            event.listen(dialect, name, listener, insert=True)
        dialect.execution_ctx_cls = _filling(dialect.execution_ctx_cls)
        _INSTALLED.add(dialect)


def installed(target: Engine | AsyncEngine | Connection | Dialect) -> bool:
    """True when the kit's hooks are on ``target``'s dialect.

    Args:
        target: an ``Engine``, ``AsyncEngine`` or ``Connection``, or a ``Dialect``.

    Example::

        assert not installed(create_engine("sqlite://"))
    """
    dialect = target if isinstance(target, Dialect) else target.dialect
    return dialect in _INSTALLED


# ------------------------------------------------------------------ before each DBAPI call
def _on_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> None:
    _before_cursor(cursor, statement, context, executemany=False)


def _on_executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> None:
    _before_cursor(cursor, statement, context, executemany=True)


def _on_execute_no_params(cursor: Any, statement: str, context: Any) -> None:
    _before_cursor(cursor, statement, context, executemany=False)


# psycopg's ClientCursor interpolates parameters into the SQL text before sending it.
_CLIENT_SIDE_CURSORS: tuple[type, ...] = (psycopg.ClientCursor, psycopg.AsyncClientCursor)
_PSYCOPG_CURSORS: tuple[type, ...] = (
    psycopg.Cursor,
    psycopg.AsyncCursor,
    psycopg.ServerCursor,
    psycopg.AsyncServerCursor,
)
_BINARY = psycopg.pq.Format.BINARY


def _before_cursor(cursor: Any, statement: str, context: Any, executemany: bool) -> None:
    """Refuse a pgcrypto statement on a cursor that inlines parameters (the key would be in
    the SQL text and the server log) and SQL that would work on ciphertext; ask for binary
    results when ``_binary_results`` says so."""
    target: Any = getattr(cursor, "_cursor", cursor)  # the async adapter's psycopg cursor
    if "pgp_sym_" in statement and isinstance(target, _CLIENT_SIDE_CURSORS):
        raise InlineKeyError(
            "this connection uses psycopg's ClientCursor, which writes parameters into the SQL "
            "text, so a pgcrypto key would reach the server log; use the default cursor"
        )
    compiled = getattr(context, "compiled", None)
    if compiled is None:
        return
    guard.check_compiled(compiled)
    if (
        not executemany
        and isinstance(target, _PSYCOPG_CURSORS)
        and (_binary_results(compiled) or context.execution_options.get(BINARY_RESULTS))
    ):
        psycopg_cursor: Any = target
        psycopg_cursor.format = _BINARY


# Result types whose PostgreSQL values psycopg loads the same in binary as in text (builtin
# OIDs only: no String, which may be an enum, citext or another extension type in the table;
# no Float, Double or Numeric, which may stand for a `real` column: its binary value is the
# float4 itself, 1.100000023841858 where the text form reads back as 1.1).
_BINARY_SAFE: frozenset[type] = frozenset(
    {
        sqltypes.Integer,
        sqltypes.BigInteger,
        sqltypes.SmallInteger,
        sqltypes.Boolean,
        sqltypes.Date,
        sqltypes.DateTime,
        sqltypes.Time,
        sqltypes.LargeBinary,
        sqltypes.Uuid,
    }
)


def _binary_results(compiled: Any) -> bool:
    """True for a statement that returns AEAD columns and only binary-safe others: fetching it
    in binary avoids psycopg's hex decoding of every ``bytea`` (half the bytes on the wire)."""
    flag = compiled.__dict__.get("_hardening_binary")
    if flag is None:
        types = [entry[3] for entry in getattr(compiled, "_result_columns", None) or ()]
        aead = [isinstance(t, EncryptedBase) and not t.decrypted_in_sql for t in types]
        flag = any(aead) and all(
            is_aead or type(t) in _BINARY_SAFE for t, is_aead in zip(types, aead, strict=True)
        )
        compiled.__dict__["_hardening_binary"] = flag
    return bool(flag)


# ------------------------------------------------------------------------------- errors
def _on_error(ctx: ExceptionContext) -> None:
    """Keep plaintexts out of error messages, and name pgcrypto's failures.

    An error raised while SQLAlchemy processes the parameters, before the statement is sent
    (an encrypted column given a value of the wrong type, or any other type's bind processor
    failing), would be wrapped in a ``StatementError`` listing the parameters as the
    application gave them: the plaintexts of every encrypted column of the row. Such an error
    keeps its SQL and its cause (``.orig``, e.g. ``EncryptedValueError``) but hides the
    parameters. Errors from the database list the bound values, where encrypted columns are
    ciphertext and pgcrypto plaintexts and keys print as ``[REDACTED]``."""
    if ctx.execution_context is None:
        if isinstance(ctx.sqlalchemy_exception, sa.exc.StatementError):
            ctx.sqlalchemy_exception.hide_parameters = True
        return
    pgcrypto.translate_error(ctx)
    blind_index.translate_error(ctx)


# The dialect events the kit listens to, with its listener for each.
LISTENERS: dict[str, Callable[..., None]] = {
    "do_execute": _on_execute,
    "do_executemany": _on_executemany,
    "do_execute_no_params": _on_execute_no_params,
    "handle_error": _on_error,
}


# ------------------------------------------------------------- UPDATEs fill the blind index
class _FillsBlindIndexes:
    """Mixed before the dialect's execution context class: rewrites an UPDATE (or INSERT ..
    ON CONFLICT DO UPDATE) that sets an indexed column without its blind index, with its
    parameters, into one that sets both, and runs that instead; and binds the values of
    row-bound columns to their rows' keys once the statement's defaults are known."""

    compiled: Any
    isinsert: bool
    isupdate: bool

    def create_cursor(self) -> Any:
        # Called once the parameters are built; the defaults come next, when there are any.
        if (self.isinsert or self.isupdate) and not (
            self.compiled.insert_prefetch or self.compiled.update_prefetch
        ):
            bind_rows(self)
        return cast(Any, super()).create_cursor()

    def _process_execute_defaults(self) -> None:
        cast(Any, super())._process_execute_defaults()
        bind_rows(self)

    @classmethod
    def _init_compiled(
        cls,
        dialect: Dialect,
        connection: Connection,
        dbapi_connection: Any,
        execution_options: Any,
        compiled: Any,
        parameters: Any,
        invoked_statement: Any,
        extracted_parameters: Any,
        *args: Any,
        **kw: Any,
    ) -> Any:
        redact_rows(connection.engine)  # its row log (echo="debug") hides the kit's columns
        if compiled.isupdate or compiled.isinsert:
            filled = fill_updates(invoked_statement, parameters or ())
            if filled is not None:
                invoked_statement, parameters = filled
                compiled, extracted_parameters = _compile(
                    invoked_statement, dialect, connection, execution_options, parameters, kw
                )
        base = cast(Any, super())
        return base._init_compiled(
            dialect,
            connection,
            dbapi_connection,
            execution_options,
            compiled,
            parameters,
            invoked_statement,
            extracted_parameters,
            *args,
            **kw,
        )


def _compile(
    statement: Any,
    dialect: Dialect,
    connection: Connection,
    execution_options: Any,
    parameters: list[dict[str, Any]],
    kw: dict[str, Any],
) -> tuple[Any, Any]:
    """Compile ``statement`` as ``Connection.execute`` would (through the engine's statement
    cache); the cache statistics and collected parameters go into ``kw``."""
    compiled = statement._compile_w_cache(
        dialect=dialect,
        compiled_cache=execution_options.get("compiled_cache", connection.engine._compiled_cache),
        column_keys=sorted(parameters[0]) if parameters else [],
        for_executemany=len(parameters) > 1,
        schema_translate_map=execution_options.get("schema_translate_map", None),
        linting=dialect.compiler_linting | WARN_LINTING,
    )
    if len(compiled) == 4:  # SQLAlchemy 2.1: (compiled, extracted, param_dict, cache_hit)
        kw["param_dict"], kw["cache_hit"] = compiled[2], compiled[3]
    else:
        kw["cache_hit"] = compiled[2]
    return compiled[0], compiled[1]


_CONTEXTS: dict[type, type] = {}


def _filling(context_class: type) -> type:
    """``context_class`` with ``_FillsBlindIndexes`` before it (one subclass per class)."""
    if issubclass(context_class, _FillsBlindIndexes):
        return context_class
    made = _CONTEXTS.get(context_class)
    if made is None:
        made = _CONTEXTS[context_class] = type(
            f"Hardening{context_class.__name__}", (_FillsBlindIndexes, context_class), {}
        )
    return made
