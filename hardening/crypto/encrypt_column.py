"""``op.encrypt_column`` / ``op.decrypt_column``: convert a plaintext column in place, in batches.

Import this module (or ``hardening.encrypt_column``) in ``env.py`` or the revision to
register the operations, then::

    def upgrade() -> None:
        op.encrypt_column("users", "ssn", EncryptedText, blind_index="ssn_bidx")

    def downgrade() -> None:
        op.decrypt_column("users", "ssn", EncryptedText, plaintext_type="text",
                          blind_index="ssn_bidx")

Upgrade of a plaintext column (any type but ``bytea``): online, with no transaction that
rewrites the table (``hardening.crypto.shadow``): the column is checked (no view, index or
constraint uses it), a ``bytea`` shadow column and a trigger that keeps it in step with the
application's writes are added (with the blind-index column if asked), every row's text is
encrypted into the shadow in primary-key batches of ``batch_size``, each its own short
statement (the one column rewriter of ``hardening.crypto.rewriter``, which ``rotate`` uses as
well), and the shadow then replaces the column in one short transaction; the rows the
application wrote meanwhile are encrypted in place last. The application reads and writes the
plaintext column until that swap. An interrupted upgrade is simply run again: it continues
where the shadow stops.

Upgrade of a ``bytea`` column (its values the UTF-8 of their text form, or a column an earlier
version of the kit converted): encrypted in place, in the same batches, each row written with
a compare-and-set on its old bytes. A row that already decrypts is skipped. A value with the
header of one of the kit's envelopes (``envelope.split_header`` reads it) that does not decrypt
stops the step with ``EncryptColumnError`` naming the row, its key id and the fix, before its
batch is written: it is never taken for plaintext, in either direction. The table, the column
and its primary key (one column) are checked before anything changes.

Reads during an in-place conversion: some rows are envelopes, some plaintext bytes. Declare the
column with ``EncryptedText(legacy_plaintext=True)`` while it runs: a value that is an AEAD
envelope under a known key id, or a complete one under an unknown key id, decrypts or raises
exactly as without the flag (``DecryptionError``, ``KeyNotFoundError``); any other value is
returned as plaintext (docs/encryption.md states the rule byte by byte). Drop the flag once the
upgrade has finished. Without the flag,
a plaintext row raises ``DecryptionError`` (never wrong data).

Downgrade decrypts in batches the same way, then turns the column back into
``plaintext_type`` with ``convert_from(col, 'UTF8')::plaintext_type`` (a table rewrite, in one
transaction) and drops the blind-index column it names; the downgrade of an upgrade that
stopped before its swap drops the shadow column, its trigger and the blind index instead.
Both need online mode (the keys are needed; ``--sql`` is refused).
Only the client-side AEAD family is supported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import Column, LargeBinary
from sqlalchemy.engine import Connection

from hardening.crypto.aead import EncryptedType
from hardening.crypto.context import ColumnContext
from hardening.crypto.plan import ColumnPlan, at_least_one, inspect_column
from hardening.crypto.rewriter import ColumnRewriter, Direction, WalkState
from hardening.crypto.shadow import Shadow
from hardening.errors import EncryptColumnError

__all__ = ["DecryptColumnOp", "EncryptColumnError", "EncryptColumnOp"]

_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*(\(\d+(,\s*\d+)?\))?(\[\])?")


def _typed(type_: Any, schema: str | None, table: str, column: str) -> EncryptedType[Any]:
    """An instance of ``type_`` bound to ``schema.table.column`` (unless it has a context),
    with its options (keys, padding, bind_row)."""
    where = ColumnContext(schema, table, column)
    if isinstance(type_, type):
        if not issubclass(type_, EncryptedType):
            raise EncryptColumnError(
                f"encrypt_column supports the AEAD types (EncryptedText, ...), not {type_.__name__}"
            )
        return type_(context=where)
    if not isinstance(type_, EncryptedType):
        raise EncryptColumnError(
            f"encrypt_column supports the AEAD types (EncryptedText, ...), not {type_!r}"
        )
    typed = type_.copy()
    typed.cipher = typed._new_cipher(type_.context or type_.cipher.column or where)
    return typed


@Operations.register_operation("encrypt_column")
class EncryptColumnOp(MigrateOperation):
    """Encrypt an existing plaintext column in place, in batches (see the module docstring).

    Args:
        table_name: the table; it needs a one-column primary key.
        column_name: the plaintext column (any type whose text form the type reads).
        type_: the AEAD type the application declares for the column: a class
            (``EncryptedText``) or an instance (``EncryptedText(keys=..., padding=...,
            bind_row=True)``), whose context is the schema, table and column unless it
            gives one; values are written in its form (fixed width, padding, row binding).
        schema: the table's schema; None for the search path.
        batch_size: rows per statement (at least 1).
        blind_index: a blind-index column to fill (added, with an index, if missing);
            its values are the HMACs ``blind_eq`` looks for.
        plaintext_type: the SQL type the downgrade turns the column back into.

    Example::

        import hardening.encrypt_column  # registers the operations

        def upgrade() -> None:
            op.encrypt_column("users", "ssn", EncryptedText, blind_index="ssn_bidx")
    """

    def __init__(
        self,
        table_name: str,
        column_name: str,
        type_: Any,
        *,
        schema: str | None = None,
        batch_size: int = 1000,
        blind_index: str | None = None,
        plaintext_type: str = "text",
    ) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.type_ = type_
        self.schema = schema
        try:
            self.batch_size = at_least_one("batch_size", batch_size)
        except ValueError as exc:
            where = f"{type(self).__name__} of {table_name}.{column_name}"
            raise EncryptColumnError(f"{where}: {exc}") from None
        self.blind_index = blind_index
        self.plaintext_type = plaintext_type

    @classmethod
    def encrypt_column(
        cls, operations: Operations, table_name: str, column_name: str, type_: Any, **kw: Any
    ) -> None:
        """``op.encrypt_column(table_name, column_name, type_, *, schema=None,
        batch_size=1000, blind_index=None, plaintext_type="text")``: the arguments of
        ``EncryptColumnOp``.

        Example::

            op.encrypt_column("users", "ssn", EncryptedText, blind_index="ssn_bidx")
        """
        operations.invoke(cls(table_name, column_name, type_, **kw))

    def reverse(self) -> EncryptColumnOp:
        return self._as(DecryptColumnOp)

    def _as(self, cls: type[EncryptColumnOp]) -> EncryptColumnOp:
        return cls(
            self.table_name,
            self.column_name,
            self.type_,
            schema=self.schema,
            batch_size=self.batch_size,
            blind_index=self.blind_index,
            plaintext_type=self.plaintext_type,
        )


@Operations.register_operation("decrypt_column")
class DecryptColumnOp(EncryptColumnOp):
    """Decrypt an encrypted column back to ``plaintext_type`` (the downgrade), in batches,
    then drop its blind-index column; the arguments are those of ``EncryptColumnOp``.

    Example::

        def downgrade() -> None:
            op.decrypt_column("users", "ssn", EncryptedText, plaintext_type="text",
                              blind_index="ssn_bidx")
    """

    @classmethod
    def decrypt_column(
        cls, operations: Operations, table_name: str, column_name: str, type_: Any, **kw: Any
    ) -> None:
        """``op.decrypt_column(table_name, column_name, type_, *, schema=None,
        batch_size=1000, blind_index=None, plaintext_type="text")``: the arguments of
        ``EncryptColumnOp``.

        Example::

            op.decrypt_column("users", "age", EncryptedInteger, plaintext_type="integer")
        """
        operations.invoke(cls(table_name, column_name, type_, **kw))

    def reverse(self) -> EncryptColumnOp:
        return self._as(EncryptColumnOp)


def _checked(
    operations: Operations, op: EncryptColumnOp, direction: Direction
) -> tuple[Connection, ColumnPlan, ColumnRewriter]:
    """What is checked before anything changes: online mode, the type, its keys, the table
    (``inspect_column``); and the rewriter that then walks it."""
    verb = direction.verb
    if operations.get_context().as_sql:
        raise EncryptColumnError(f"{verb}_column needs online mode: the keys {verb} each row")
    column_type = _typed(op.type_, op.schema, op.table_name, op.column_name)
    column_type.cipher.keyring()  # fail before changing anything when the keys are missing
    conn = operations.get_bind()
    plan = inspect_column(
        conn,
        op.table_name,
        op.column_name,
        schema=op.schema,
        blind_index=op.blind_index,
        encrypted=direction is Direction.DECRYPT,
        index_must_exist=False,
        error=EncryptColumnError,
    )
    return conn, plan, ColumnRewriter(plan, column_type, direction, EncryptColumnError)


@Operations.implementation_for(EncryptColumnOp)
def _encrypt(operations: Operations, op: EncryptColumnOp) -> None:
    conn, plan, rewriter = _checked(operations, op, Direction.ENCRYPT)
    plaintext = not isinstance(plan.types[op.column_name], LargeBinary)
    shadow = Shadow(plan, conn, op.blind_index) if plaintext else None
    if shadow is not None:
        shadow.check(conn)
    if op.blind_index and op.blind_index not in plan.types:
        operations.add_column(
            op.table_name, Column(op.blind_index, LargeBinary, nullable=True), schema=op.schema
        )
        operations.create_index(
            f"ix_{op.table_name}_{op.blind_index}",
            op.table_name,
            [op.blind_index],
            schema=op.schema,
        )
    if shadow is None:
        _rewrite(operations, op, rewriter)
        return
    shadow.prepare(operations)
    fill = ColumnRewriter(
        plan, rewriter.type, Direction.ENCRYPT, EncryptColumnError, into=shadow.name
    )
    _rewrite(operations, op, fill, before_swap=shadow.before_swap)
    shadow.swap(operations)
    # What the application wrote during the fill holds its text (the trigger's): encrypted in
    # place now; every other row is under the active key already.
    if shadow.any_written(conn):
        _rewrite(operations, op, rewriter, where=[shadow.written(rewriter.pk)])
    shadow.finish(operations)


@Operations.implementation_for(DecryptColumnOp)
def _decrypt(operations: Operations, op: DecryptColumnOp) -> None:
    if not _TYPE_NAME.fullmatch(op.plaintext_type):
        raise EncryptColumnError(f"plaintext_type {op.plaintext_type!r} is not a type name")
    if _abandoned(operations, op):
        return
    conn, plan, rewriter = _checked(operations, op, Direction.DECRYPT)
    _rewrite(operations, op, rewriter)
    prep = conn.dialect.identifier_preparer
    table = prep.quote(op.table_name)
    if op.schema:
        table = f"{prep.quote_schema(op.schema)}.{table}"
    column = prep.quote(op.column_name)
    operations.execute(
        f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {op.plaintext_type} "
        f"USING convert_from({column}, 'UTF8')::{op.plaintext_type}"
    )
    if op.blind_index and op.blind_index in plan.types:
        operations.drop_column(op.table_name, op.blind_index, schema=op.schema)


def _abandoned(operations: Operations, op: DecryptColumnOp) -> bool:
    """The downgrade of an upgrade interrupted before its swap (the column is still the
    plaintext one, beside its shadow): the shadow, its trigger and the blind index go."""
    conn = operations.get_bind()
    plan = inspect_column(
        conn,
        op.table_name,
        op.column_name,
        schema=op.schema,
        encrypted=False,
        error=EncryptColumnError,
    )
    shadow = Shadow(plan, conn, None)
    if isinstance(plan.types[op.column_name], LargeBinary) or not shadow.exists():
        return False
    shadow.abandon(operations)
    if op.blind_index and op.blind_index in plan.types:
        operations.drop_column(op.table_name, op.blind_index, schema=op.schema)
    return True


def _rewrite(
    operations: Operations,
    op: EncryptColumnOp,
    rewriter: ColumnRewriter,
    where: list[Any] | None = None,
    before_swap: Callable[[Connection], None] | None = None,
) -> None:
    """Every row (matching ``where``), in batches of ``op.batch_size``, each statement
    committing on its own; then ``before_swap`` on the same connection."""
    with operations.get_context().autocommit_block():
        conn = operations.get_bind()
        rewriter.walk(
            lambda: nullcontext(conn),
            WalkState(),
            batch_size=op.batch_size,
            where=where or (),
            read=conn.engine.connect,  # the next batch is read while one is written
        )
        if before_swap is not None:
            before_swap(conn)
