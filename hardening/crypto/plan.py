"""What a column rewrite needs to know about its table, read before anything changes.

``inspect_column`` checks that the table exists and holds the column, that its primary key
is one column (a rewrite walks it in key batches), and that a named blind-index column is
``bytea`` and neither the column nor the key; it returns a ``ColumnPlan``, which
``hardening.crypto.rewriter`` walks. ``rotate`` and ``op.encrypt_column`` both start here, so
they refuse the same columns in the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, Table, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeEngine

from hardening.errors import RewriteError

__all__ = ["ColumnPlan", "at_least_one", "inspect_column"]


def at_least_one(name: str, value: int) -> int:
    """``value`` if it is a whole number of at least 1, else a ``ValueError`` naming ``name``.

    Args:
        name: the parameter's name, for the message.
        value: what was given.

    Example::

        batch_size = at_least_one("batch_size", batch_size)
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


@dataclass(frozen=True)
class ColumnPlan:
    """What ``inspect_column`` found: the table, the column, its key and blind index.

    Args:
        table: the table's name.
        column: the column's name.
        key: the name of the table's one-column primary key.
        types: every column's reflected type, by name.
        schema: the table's schema, or None for the search path.
        blind_index: the blind-index column to recompute, or None.

    Example::

        plan = inspect_column(conn, "users", "ssn", blind_index="ssn_bidx")
        plan.name, plan.key     # ('users.ssn', 'id')
    """

    table: str
    column: str
    key: str
    types: Mapping[str, TypeEngine[Any]]
    schema: str | None = None
    blind_index: str | None = None

    @property
    def where(self) -> str:
        """The table's name, with its schema if one was given."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def name(self) -> str:
        """``table.column`` (``schema.table.column`` with a schema)."""
        return f"{self.where}.{self.column}"

    def model(self, column_type: TypeEngine[Any] | None = None) -> Table:
        """A ``Table`` of the key, the column and the blind index: what a rewrite reads and
        writes.

        Args:
            column_type: the column's type (a pgcrypto type decrypts in the SELECT); None
                reads it as ``bytea``.

        Example::

            table = plan.model()
            select(table.c[plan.key], table.c[plan.column])   # the stored bytes
        """
        columns: list[Column[Any]] = [
            Column(self.key, self.types[self.key], primary_key=True),
            Column(self.column, column_type if column_type is not None else LargeBinary),
        ]
        if self.blind_index:
            columns.append(Column(self.blind_index, LargeBinary))
        return Table(self.table, MetaData(), *columns, schema=self.schema)


def inspect_column(
    bind: Engine | Connection,
    table: str,
    column: str,
    *,
    schema: str | None = None,
    blind_index: str | None = None,
    encrypted: bool = True,
    index_must_exist: bool = True,
    error: Callable[[str], RewriteError] = RewriteError,
) -> ColumnPlan:
    """Check that ``table.column`` can be rewritten, changing nothing, and say how.

    Args:
        bind: where to look (an engine or a connection).
        table: the table's name.
        column: the column to rewrite.
        schema: the table's schema; None for the search path.
        blind_index: a blind-index column to recompute with the column, or None.
        encrypted: the column must already be ``bytea`` (rotation, decryption); False for
            a plaintext column about to be converted.
        index_must_exist: a missing ``blind_index`` column is an error (False when the
            caller adds it).
        error: the error class to raise (``RotationError``, ``EncryptColumnError``).

    Example::

        plan = inspect_column(engine, "users", "ssn", blind_index="ssn_bidx",
                              error=RotationError)
    """
    where = f"{schema}.{table}" if schema else table
    name = f"{where}.{column}"
    insp = inspect(bind)
    if not insp.has_table(table, schema):
        raise error(f"{name}: table {where} does not exist (check the table name and the schema)")
    types = {c["name"]: c["type"] for c in insp.get_columns(table, schema)}
    have = ", ".join(sorted(types))
    if column not in types:
        raise error(f"{name}: table {where} has no column {column!r} (it has {have})")
    key = list(insp.get_pk_constraint(table, schema)["constrained_columns"])
    if len(key) != 1:
        raise error(
            f"{name}: table {where} needs a one-column primary key to be walked in batches "
            f"(it has {', '.join(key) or 'none'})"
        )
    if encrypted and not isinstance(types[column], LargeBinary):
        raise error(
            f"{name} is of type {types[column]}, not bytea: it is not an encrypted column (a "
            "plaintext column is encrypted with op.encrypt_column)"
        )
    if blind_index is not None:
        fix = f"the blind index is the bytea column declared with mapped_blind_index({column!r})"
        index = f"{where}.{blind_index}"
        if blind_index in (column, key[0]):
            raise error(f"{index} cannot be the blind index of {column}: {fix}")
        if blind_index not in types and index_must_exist:
            raise error(
                f"{index}: table {where} has no column {blind_index!r} to hold the blind index "
                f"of {column} (it has {have})"
            )
        if blind_index in types and not isinstance(types[blind_index], LargeBinary):
            raise error(
                f"{index} is of type {types[blind_index]}, not bytea: it is not a blind index "
                f"({fix})"
            )
    return ColumnPlan(table, column, key[0], types, schema, blind_index)
