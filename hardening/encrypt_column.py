"""``op.encrypt_column`` / ``op.decrypt_column``: convert a plaintext column in place, in batches.

Import this module in ``env.py`` (or the revision) to register the operations, then::

    def upgrade() -> None:
        op.encrypt_column("users", "ssn", EncryptedText, blind_index="ssn_bidx")

    def downgrade() -> None:
        op.decrypt_column("users", "ssn", EncryptedText, plaintext_type="text",
                          blind_index="ssn_bidx")

Upgrade: (1) ``ALTER COLUMN ... TYPE bytea USING convert_to(col::text, 'UTF8')`` (a table
rewrite under an ACCESS EXCLUSIVE lock, like any type change; the values are still plaintext,
as UTF-8 bytes of their text form, which is what the kit's types serialise to), plus the
blind-index column if asked; (2) commit, then encrypt in primary-key order, ``batch_size`` rows
per short transaction, each row written with a compare-and-set on its old bytes. A row that
already decrypts is skipped, so an interrupted upgrade is simply run again.

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
from typing import Any

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    Table,
    bindparam,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection

from hardening import blind_index
from hardening.keys import EncryptionError
from hardening.types import DecryptionError, EncryptedType, KeyNotFoundError, Secret

_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*(\(\d+(,\s*\d+)?\))?(\[\])?")


class EncryptColumnError(EncryptionError):
    """The column cannot be converted as asked."""


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
    """Encrypt an existing plaintext column in place (see the module docstring)."""

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
        self.batch_size = batch_size
        self.blind_index = blind_index
        self.plaintext_type = plaintext_type

    @classmethod
    def encrypt_column(
        cls, operations: Operations, table_name: str, column_name: str, type_: Any, **kw: Any
    ) -> None:
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
    """Decrypt an encrypted column back to ``plaintext_type`` (the downgrade)."""

    @classmethod
    def decrypt_column(
        cls, operations: Operations, table_name: str, column_name: str, type_: Any, **kw: Any
    ) -> None:
        operations.invoke(cls(table_name, column_name, type_, **kw))

    def reverse(self) -> EncryptColumnOp:
        return self._as(EncryptColumnOp)


@Operations.implementation_for(EncryptColumnOp)
def _encrypt(operations: Operations, op: EncryptColumnOp) -> None:
    ctx = operations.get_context()
    if ctx.as_sql:
        raise EncryptColumnError("encrypt_column needs online mode: the keys encrypt each row")
    crypto = _typed(op.type_, op.table_name, op.column_name)
    crypto._state.keyring()  # fail before changing anything when the keys are missing
    conn = operations.get_bind()
    columns = _columns(conn, op)
    if not isinstance(columns[op.column_name]["type"], LargeBinary):
        operations.alter_column(
            op.table_name,
            op.column_name,
            type_=LargeBinary(),
            schema=op.schema,
            postgresql_using=f"convert_to({_quote(conn, op.column_name)}::text, 'UTF8')",
        )
    if op.blind_index and op.blind_index not in columns:
        operations.add_column(
            op.table_name, Column(op.blind_index, LargeBinary, nullable=True), schema=op.schema
        )
        operations.create_index(
            f"ix_{op.table_name}_{op.blind_index}",
            op.table_name,
            [op.blind_index],
            schema=op.schema,
        )
    with ctx.autocommit_block():  # each batch statement commits on its own
        _convert(operations.get_bind(), op, crypto, encrypt=True)


@Operations.implementation_for(DecryptColumnOp)
def _decrypt(operations: Operations, op: DecryptColumnOp) -> None:
    ctx = operations.get_context()
    if ctx.as_sql:
        raise EncryptColumnError("decrypt_column needs online mode: the keys decrypt each row")
    crypto = _typed(op.type_, op.table_name, op.column_name)
    crypto._state.keyring()
    _columns(operations.get_bind(), op)
    if not _TYPE_NAME.fullmatch(op.plaintext_type):
        raise EncryptColumnError(f"plaintext_type {op.plaintext_type!r} is not a type name")
    with ctx.autocommit_block():
        _convert(operations.get_bind(), op, crypto, encrypt=False)
    conn = operations.get_bind()
    prep = conn.dialect.identifier_preparer
    table = prep.quote(op.table_name)
    if op.schema:
        table = f"{prep.quote_schema(op.schema)}.{table}"
    column = prep.quote(op.column_name)
    operations.execute(
        f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {op.plaintext_type} "
        f"USING convert_from({column}, 'UTF8')::{op.plaintext_type}"
    )
    if op.blind_index:
        insp = inspect(conn)
        if op.blind_index in {c["name"] for c in insp.get_columns(op.table_name, op.schema)}:
            operations.drop_column(op.table_name, op.blind_index, schema=op.schema)


def _columns(conn: Connection, op: EncryptColumnOp) -> dict[str, Any]:
    """The table's columns by name; ``EncryptColumnError`` naming the fix if the table or the
    column is missing."""
    where = f"{op.schema}.{op.table_name}" if op.schema else op.table_name
    insp = inspect(conn)
    if not insp.has_table(op.table_name, op.schema):
        raise EncryptColumnError(
            f"{where}.{op.column_name}: table {where} does not exist (check the table name "
            "and schema=, and that the revision creating it runs first)"
        )
    columns = {c["name"]: c for c in insp.get_columns(op.table_name, op.schema)}
    if op.column_name not in columns:
        raise EncryptColumnError(
            f"{where}.{op.column_name}: table {where} has no column {op.column_name!r} "
            f"(it has {', '.join(sorted(columns))})"
        )
    return columns


def _quote(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _convert(
    conn: Connection, op: EncryptColumnOp, crypto: EncryptedType[Any], *, encrypt: bool
) -> int:
    """Walk the table by primary key; encrypt plaintext rows (or decrypt envelopes)."""
    pk_cols = inspect(conn).get_pk_constraint(op.table_name, op.schema)["constrained_columns"]
    if len(pk_cols) != 1:
        raise EncryptColumnError(f"{op.table_name} needs a single-column primary key")
    cols: list[Any] = [Column(pk_cols[0], primary_key=True), Column(op.column_name, LargeBinary)]
    if op.blind_index and encrypt:
        cols.append(Column(op.blind_index, LargeBinary))
    table = Table(op.table_name, MetaData(), *cols, schema=op.schema)
    pk, col = table.c[pk_cols[0]], table.c[op.column_name]
    state = crypto._state
    where = state.name
    values: dict[Any, Any] = {col: bindparam("b_new")}
    if op.blind_index and encrypt:
        values[table.c[op.blind_index]] = bindparam("b_bidx")
    stmt = (
        update(table)
        .where(pk == bindparam("b_pk"), col == bindparam("b_old", type_=LargeBinary))
        .values(values)
    )
    last: Any = None
    changed = 0
    while True:
        query = select(pk, col).where(col.is_not(None)).order_by(pk).limit(op.batch_size)
        if last is not None:
            query = query.where(pk > last)
        rows = conn.execute(query).all()
        if not rows:
            return changed
        params = []
        for key, raw in rows:
            plain = _plaintext_or_none(state, raw, f"{where} (row {pk.name} {key})")
            # Secret: a failed UPDATE's error lists its parameters, and these are plaintexts
            if encrypt and plain is None:
                data = _canonical(crypto, raw, f"{where} (row {pk.name} {key})")
                p = {"b_pk": key, "b_old": Secret(raw), "b_new": state.encrypt(data)}
                if op.blind_index:
                    p["b_bidx"] = blind_index.digest(state.mac_keys()[0], data)
                params.append(p)
            elif not encrypt and plain is not None:
                params.append({"b_pk": key, "b_old": raw, "b_new": Secret(plain)})
        if params:
            changed += conn.execute(stmt, params).rowcount
        last = rows[-1][0]


def _plaintext_or_none(state: Any, raw: bytes, row: str) -> bytes | None:
    """The plaintext of an envelope of this column, or None when ``raw`` is not one.

    An envelope under a key id the keyring lacks stops the conversion: encrypting it again
    would store the old ciphertext as the value, and decrypting cannot proceed without it."""
    try:
        plain: bytes = state.decrypt(raw)
    except KeyNotFoundError as exc:
        raise EncryptColumnError(
            f"{row} is already encrypted under key id {exc.key_id!r}, which the keyring lacks; "
            "add that key to the keyring (after the active one) and run the step again"
        ) from None
    except DecryptionError:
        return None
    return plain


def _canonical(crypto: EncryptedType[Any], raw: bytes, row: str) -> bytes:
    """``raw`` (the column's text form, as UTF-8) in the bytes the type itself writes: the
    blind index must match ``blind_eq`` (jsonb and timestamptz print otherwise), and a value
    the type cannot read stops the conversion here instead of failing every later read."""
    try:
        return crypto.to_bytes(crypto.from_bytes(raw))
    except Exception:
        raise EncryptColumnError(
            f"{row} does not hold a value {type(crypto).__name__} can read (the value is not "
            "shown); fix or clear that row, or choose the type matching the column"
        ) from None


__all__ = ["DecryptColumnOp", "EncryptColumnError", "EncryptColumnOp"]
