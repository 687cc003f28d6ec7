"""``op.encrypt_column`` / ``op.decrypt_column``: convert a plaintext column in place, in batches.

Import this module (or ``hardening.encrypt_column``) in ``env.py`` or the revision to
register the operations, then::

    def upgrade() -> None:
        op.encrypt_column("users", "ssn", EncryptedText, blind_index="ssn_bidx")

    def downgrade() -> None:
        op.decrypt_column("users", "ssn", EncryptedText, plaintext_type="text",
                          blind_index="ssn_bidx")

Upgrade: (1) ``ALTER COLUMN ... TYPE bytea USING convert_to(col::text, 'UTF8')`` (a table
rewrite under an ACCESS EXCLUSIVE lock, like any type change; the values are still plaintext,
as UTF-8 bytes of their text form, which is what the kit's types serialise to), plus the
blind-index column if asked; (2) commit, then encrypt in primary-key order, ``batch_size`` rows
per short transaction, each row written with a compare-and-set on its old bytes (the one
column rewriter of ``hardening.crypto.rewriter``, which ``rotate`` uses as well). A row that
already decrypts is skipped, so an interrupted upgrade is simply run again. A value with the
header of one of the kit's envelopes (``envelope.split_header`` reads it) that does not decrypt
stops the step with ``EncryptColumnError`` naming the row, its key id and the fix, before its
batch is written: it is never taken for plaintext, in either direction. The table, the column
and its primary key (one column) are checked before anything changes.

Reads during the transition: some rows are envelopes, some plaintext bytes. Declare the column
with ``EncryptedText(legacy_plaintext=True)`` while the conversion runs: a value that is an AEAD
envelope under a known key id, or a complete one under an unknown key id, decrypts or raises
exactly as without the flag (``DecryptionError``, ``KeyNotFoundError``); any other value is
returned as plaintext (docs/encryption.md states the rule byte by byte). Drop the flag once the
upgrade has finished. Without the flag,
a plaintext row raises ``DecryptionError`` (never wrong data).

Downgrade decrypts in batches the same way, then turns the column back into
``plaintext_type`` with ``convert_from(col, 'UTF8')::plaintext_type`` and drops the blind-index
column it names. Both need online mode (the keys are needed; ``--sql`` is refused).
Only the client-side AEAD family is supported.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from typing import Any

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import Column, LargeBinary
from sqlalchemy.engine import Connection

from hardening.crypto.aead import EncryptedType
from hardening.crypto.plan import ColumnPlan, at_least_one, inspect_column
from hardening.crypto.rewriter import ColumnRewriter, Direction, WalkState
from hardening.errors import EncryptColumnError

__all__ = ["DecryptColumnOp", "EncryptColumnError", "EncryptColumnOp"]

_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*(\(\d+(,\s*\d+)?\))?(\[\])?")


def _typed(type_: Any, table: str, column: str) -> EncryptedType[Any]:
    """An instance of ``type_`` bound to ``table.column`` (its context, unless it has one)."""
    if isinstance(type_, type):
        if not issubclass(type_, EncryptedType):
            raise EncryptColumnError(
                f"encrypt_column supports the AEAD types (EncryptedText, ...), not {type_.__name__}"
            )
        return type_(context=f"{table}.{column}")
    if not isinstance(type_, EncryptedType):
        raise EncryptColumnError(
            f"encrypt_column supports the AEAD types (EncryptedText, ...), not {type_!r}"
        )
    return type(type_)(context=type_.context or f"{table}.{column}", keys=type_.keys)


@Operations.register_operation("encrypt_column")
class EncryptColumnOp(MigrateOperation):
    """Encrypt an existing plaintext column in place, in batches (see the module docstring).

    Args:
        table_name: the table; it needs a one-column primary key.
        column_name: the plaintext column (any type whose text form the type reads).
        type_: the AEAD type the application declares for the column: a class
            (``EncryptedText``) or an instance (``EncryptedText(context=..., keys=...)``).
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
    column_type = _typed(op.type_, op.table_name, op.column_name)
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
    if not isinstance(plan.types[op.column_name], LargeBinary):
        column = conn.dialect.identifier_preparer.quote(op.column_name)
        operations.alter_column(
            op.table_name,
            op.column_name,
            type_=LargeBinary(),
            schema=op.schema,
            postgresql_using=f"convert_to({column}::text, 'UTF8')",
        )
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
    _rewrite(operations, op, rewriter)


@Operations.implementation_for(DecryptColumnOp)
def _decrypt(operations: Operations, op: DecryptColumnOp) -> None:
    conn, plan, rewriter = _checked(operations, op, Direction.DECRYPT)
    if not _TYPE_NAME.fullmatch(op.plaintext_type):
        raise EncryptColumnError(f"plaintext_type {op.plaintext_type!r} is not a type name")
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


def _rewrite(operations: Operations, op: EncryptColumnOp, rewriter: ColumnRewriter) -> None:
    """Every row, in batches of ``op.batch_size``, each statement committing on its own."""
    with operations.get_context().autocommit_block():
        conn = operations.get_bind()
        rewriter.walk(lambda: nullcontext(conn), WalkState(), batch_size=op.batch_size)
