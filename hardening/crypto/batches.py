"""How a column rewrite writes its batches: one compare-and-set UPDATE per batch, written on a
second thread while the next batch is read and worked out.

``BatchUpdate`` writes a batch's new values. AEAD values (made in Python) go in one statement
built from arrays, ``UPDATE t SET v = b.new FROM unnest(:keys, :olds, :news) AS b(key, old,
new) WHERE t.id = b.key AND t.v = b.old``, with the byte arrays in psycopg's binary format;
pgcrypto values are encrypted by the UPDATE's own SQL, one parameter set per row. Either way a
row another connection changed since it was read keeps what that writer wrote.

``Pipeline`` runs one write at a time on its own thread: the rewriter reads and works out
batch N + 1 while batch N is written, on another connection, so the encryption in Python and
the server's work overlap. It never has more than one batch in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any

from sqlalchemy import LargeBinary, bindparam, column, func, type_coerce, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.schema import Table

__all__ = ["BatchUpdate", "Pipeline"]


class BatchUpdate:
    """The UPDATE of one batch of a column's new values, each a compare-and-set on its old
    bytes (and the blind index with them).

    Args:
        table: the rewrite's table model (key, column, blind index).
        key: its primary key column.
        column_: the column written.
        index: the blind-index column written with it, or None.
        in_sql: the new values are encrypted by the column type's SQL (pgcrypto).
        unchanged: the condition that a row is as it was read, when it is not that its
            ``column_`` still holds the bytes read (``op.encrypt_column``'s shadow column:
            still NULL).

    Example::

        written = BatchUpdate(table, table.c.id, table.c.ssn, None, False).write(conn, params)
    """

    def __init__(
        self,
        table: Table,
        key: ColumnElement[Any],
        column_: ColumnElement[Any],
        index: ColumnElement[Any] | None,
        in_sql: bool,
        unchanged: ColumnElement[bool] | None = None,
    ) -> None:
        raw = type_coerce(column_, LargeBinary)
        self.index = index is not None
        self.compare = unchanged is None
        values: dict[Any, Any] = {column_: bindparam("b_new", type_=column_.type)}
        if index is not None:
            values[index] = bindparam("b_bidx")
        same = raw == bindparam("b_old", type_=LargeBinary) if unchanged is None else unchanged
        self.per_row = update(table).where(key == bindparam("b_pk"), same).values(values)
        self.from_arrays = (
            None if in_sql else self._from_arrays(table, key, column_, index, unchanged)
        )
        self._sql: dict[Any, str] = {}

    @staticmethod
    def _from_arrays(
        table: Table,
        key: ColumnElement[Any],
        column_: ColumnElement[Any],
        index: ColumnElement[Any] | None,
        unchanged: ColumnElement[bool] | None,
    ) -> Any:
        named = [("key", key.type), ("old", LargeBinary()), ("new", LargeBinary())]
        if unchanged is not None:
            named.remove(named[1])
        if index is not None:
            named.append(("bidx", LargeBinary()))
        arrays = [bindparam(f"b_{n}s", type_=ARRAY(t)) for n, t in named]
        batch = (
            func.unnest(*arrays)
            .table_valued(*(column(n, t) for n, t in named))
            .render_derived(name="batch")
        )
        values: dict[Any, Any] = {column_: type_coerce(batch.c.new, column_.type)}
        if index is not None:
            values[index] = batch.c.bidx
        raw = type_coerce(column_, LargeBinary)
        same = raw == batch.c.old if unchanged is None else unchanged
        return update(table).where(key == batch.c.key, same).values(values)

    def write(self, conn: Connection, params: list[dict[str, Any]]) -> int:
        """Write the batch (``params``: ``b_pk``, ``b_old``, ``b_new`` and ``b_bidx`` per
        row); the number of rows written (the others changed meanwhile).

        Args:
            conn: the connection (its transaction, or autocommit) to write with.
            params: one dict per row to write.

        Example::

            written = update.write(conn, [{"b_pk": 1, "b_old": old, "b_new": new}])
        """
        if not params:
            return 0
        if self.from_arrays is None:  # pgcrypto: the UPDATE's SQL encrypts each value
            return int(conn.execute(self.per_row, params).rowcount)
        arrays = {"b_keys": [p["b_pk"] for p in params]}
        if self.compare:
            arrays["b_olds"] = [p["b_old"] for p in params]
        arrays["b_news"] = [p["b_new"] for p in params]
        if self.index:
            arrays["b_bidxs"] = [p["b_bidx"] for p in params]
        sql = self._sql.get(conn.dialect)
        if sql is None:
            # The byte arrays go in psycopg's binary format (``%(name)b``): in text, each of
            # their elements would be escaped byte by byte, at a cost above the encryption's.
            sql = str(self.from_arrays.compile(dialect=conn.dialect))
            for name in ("b_olds", "b_news", "b_bidxs"):
                sql = sql.replace(f"%({name})s", f"%({name})b")
            self._sql[conn.dialect] = sql
        return int(conn.exec_driver_sql(sql, arrays).rowcount)


class Pipeline:
    """Runs one write at a time on a thread of its own (a context manager).

    Example::

        with Pipeline() as pipeline:
            for batch in batches:
                pipeline.wait()                  # the previous write, and its error
                pipeline.submit(lambda: write(batch))
            pipeline.wait()
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hardening-rewrite")
        self._pending: Future[None] | None = None

    @property
    def busy(self) -> bool:
        """A write is in flight."""
        return self._pending is not None

    def submit(self, write: Callable[[], None]) -> None:
        """Start ``write`` once the previous one has finished (its error is raised here).

        Args:
            write: writes one batch and records what it wrote.

        Example::

            pipeline.submit(lambda: rewriter.commit(batch))
        """
        self.wait()
        self._pending = self._pool.submit(write)

    def wait(self) -> None:
        """Wait for the write in flight, if any; its error is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pending, self._pending = self._pending, None
        try:
            if pending is not None:
                if kind is None:
                    pending.result()
                else:  # the write in flight ends (committed or not); the first error wins
                    wait([pending])
        finally:
            self._pool.shutdown(wait=True)
