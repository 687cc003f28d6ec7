"""Column rewrites at scale: ``op.encrypt_column`` and ``hardening rotate`` over a large table,
in rows a second and the longest transaction either held.

A table ``(id int PRIMARY KEY, v text)`` of ``rows`` rows (values like the select benchmark's)
is filled by the server; ``op.encrypt_column`` converts it to ``EncryptedText`` (as an Alembic
revision would, through alembic's ``Operations``), then a key is prepended and ``rotate``
moves every value to it. Each is timed whole, from its first statement to its last, and a
``TransactionClock`` on the engine records how long each transaction took: from its first
statement to its commit (or each statement, on a connection in autocommit mode). A long
transaction holds its locks, and with them the application's writes, that long.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

import hardening.encrypt_column  # noqa: F401  (registers op.encrypt_column)
from hardening import keys
from hardening.crypto.keys import Key, Keyring
from hardening.crypto.rotation import rotate
from hardening.types import EncryptedText

__all__ = ["RewriteResult", "TransactionClock", "measure_rewrites"]

TABLE = "bench_rewrite"


@dataclass
class RewriteResult:
    """One rewrite of the whole table.

    Args:
        what: ``op.encrypt_column`` or ``hardening rotate``.
        rows: rows rewritten.
        seconds: from its first statement to its last.
        longest: the longest transaction it ran, in seconds.
        transactions: how many it ran.

    Example::

        result.rows / result.seconds    # rows a second
    """

    what: str
    rows: int
    seconds: float
    longest: float
    transactions: int

    @property
    def rate(self) -> float:
        """Rows a second."""
        return self.rows / self.seconds


class TransactionClock:
    """Times every transaction an engine runs: from its first statement to its commit or
    rollback; on a connection in autocommit mode, every statement on its own.

    Args:
        engine: the engine to watch (its connections' events, while ``watching``).

    Example::

        clock = TransactionClock(engine)
        with clock.watching():
            rotate(engine, "users", "ssn")
        clock.longest    # seconds
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.longest = 0.0
        self.count = 0
        self._open: dict[int, float] = {}  # id(dbapi connection) -> its transaction's start
        self._lock = threading.Lock()

    @contextmanager
    def watching(self) -> Iterator[TransactionClock]:
        """Record the engine's transactions while the block runs."""
        self.longest, self.count = 0.0, 0
        listeners: list[tuple[str, Any]] = [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("commit", self._end),
            ("rollback", self._end),
        ]
        for name, listener in listeners:
            event.listen(self.engine, name, listener)
        try:
            yield self
        finally:
            for name, listener in listeners:
                event.remove(self.engine, name, listener)

    def _before(self, conn: Connection, cursor: Any, *args: Any) -> None:
        key = id(conn.connection.dbapi_connection)
        with self._lock:
            self._open.setdefault(key, time.perf_counter())

    def _after(self, conn: Connection, cursor: Any, *args: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if getattr(dbapi, "autocommit", False):  # the statement was its own transaction
            self._close(id(dbapi))

    def _end(self, conn: Connection) -> None:
        self._close(id(conn.connection.dbapi_connection))

    def _close(self, key: int) -> None:
        with self._lock:
            start = self._open.pop(key, None)
            if start is not None:
                self.longest = max(self.longest, time.perf_counter() - start)
                self.count += 1


def measure_rewrites(engine: Engine, rows: int, batch_size: int) -> list[RewriteResult]:
    """``op.encrypt_column`` then ``rotate`` over a fresh ``rows``-row table (dropped after).

    Args:
        engine: a database with nothing named ``bench_rewrite``.
        rows: the table's size.
        batch_size: rows per batch of both.

    Example::

        for result in measure_rewrites(engine, 1_000_000, 2000):
            print(result.what, f"{result.rate:,.0f} rows/s", f"{result.longest:.2f} s")
    """
    clock = TransactionClock(engine)
    results: list[RewriteResult] = []
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {TABLE} (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE} SELECT i, 'user-' || lpad(i::text, 7, '0') || '@example.org ' "
            "|| substr(md5(i::text), 1, 8) FROM generate_series(1, %(rows)s) i",
            {"rows": rows},
        )
    _vacuum(engine)
    ring = keys.default_keyring()
    try:
        with clock.watching():
            start = time.perf_counter()
            with engine.connect() as conn:
                context = MigrationContext.configure(conn)
                with context.begin_transaction():
                    Operations(context).encrypt_column(  # type: ignore[attr-defined]
                        TABLE, "v", EncryptedText, batch_size=batch_size
                    )
            took = time.perf_counter() - start
        results.append(RewriteResult("op.encrypt_column", rows, took, clock.longest, clock.count))
        _vacuum(engine)
        keys.configure_keys(Keyring([Key("bench-next", _random_key()), *ring.keys]))
        with clock.watching():
            start = time.perf_counter()
            report = rotate(engine, TABLE, "v", batch_size=batch_size)
            took = time.perf_counter() - start
        results.append(
            RewriteResult("hardening rotate", report.rotated, took, clock.longest, clock.count)
        )
    finally:
        keys.configure_keys(ring)  # the keys it started with, for the next version
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
    return results


def _vacuum(engine: Engine) -> None:
    """VACUUM ANALYZE the table (outside a transaction), so each rewrite starts alike."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {TABLE}")


def _random_key() -> bytes:
    return os.urandom(32)
