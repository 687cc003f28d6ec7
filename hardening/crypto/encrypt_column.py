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
already decrypts is skipped, so an interrupted upgrade is simply run again. A value with the
header of one of the kit's envelopes (``envelope.split_header`` reads it) that does not decrypt
stops the step with ``EncryptColumnError`` naming the row, its key id and the fix, before its
batch is written: it is never taken for plaintext, in either direction.

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

from hardening.crypto.aead import EncryptedType
from hardening.crypto.envelope import AEAD_V1, split_header
from hardening.crypto.redacted import Secret
from hardening.crypto.rotation import at_least_one
from hardening.errors import (
    DecryptionError,
    EncryptColumnError,
    EnvelopeError,
    KeyNotFoundError,
)

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
    crypto.cipher.keyring()  # fail before changing anything when the keys are missing
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
    crypto.cipher.keyring()
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
    where = _table_name(op)
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


def _table_name(op: EncryptColumnOp) -> str:
    return f"{op.schema}.{op.table_name}" if op.schema else op.table_name


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
    state = crypto.cipher
    walk = _Walk(op, pk.name, crypto, encrypt=encrypt)
    values: dict[Any, Any] = {col: bindparam("b_new")}
    if op.blind_index and encrypt:
        values[table.c[op.blind_index]] = bindparam("b_bidx")
    stmt = (
        update(table)
        .where(pk == bindparam("b_pk"), col == bindparam("b_old", type_=LargeBinary))
        .values(values)
    )
    while True:
        query = select(pk, col).where(col.is_not(None)).order_by(pk).limit(op.batch_size)
        if walk.last is not None:
            query = query.where(pk > walk.last)
        rows = conn.execute(query).all()
        if not rows:
            return walk.changed
        # Every row of the batch is checked before its one UPDATE is sent: a row that stops
        # the step leaves the whole batch unwritten (the UPDATE itself is atomic too).
        params = []
        for key, raw in rows:
            plain = walk.open(key, raw)
            # Secret: a failed UPDATE's error lists its parameters, and these are plaintexts
            if encrypt and plain is None:
                data = walk.canonical(key, raw)
                p = {"b_pk": key, "b_old": Secret(raw), "b_new": state.encrypt(data)}
                if op.blind_index:
                    p["b_bidx"] = state.blind_hash(data)
                params.append(p)
            elif not encrypt and plain is not None:
                params.append({"b_pk": key, "b_old": raw, "b_new": Secret(plain)})
        if params:
            walk.changed += conn.execute(stmt, params).rowcount
        walk.last = rows[-1][0]


class _Walk:
    """One run over a column: reads each row's bytes the one way both directions share, and
    makes the error that stops the run at a row, saying what the run has done so far."""

    def __init__(
        self, op: EncryptColumnOp, pk: str, crypto: EncryptedType[Any], *, encrypt: bool
    ) -> None:
        self.column = f"{_table_name(op)}.{op.column_name}"
        self.pk = pk
        self.crypto = crypto
        self.encrypt = encrypt
        self.last: Any = None  # the primary key that ends the batches already written
        self.changed = 0  # the rows those batches converted

    def open(self, key: Any, raw: bytes) -> bytes | None:
        """The plaintext of ``raw`` when it is an envelope of this column; None when it has no
        envelope header at all (a plaintext row). A value with the header of one of the kit's
        envelopes that does not decrypt stops the run: encrypting it would store ciphertext as
        the value, and leaving it in a downgrade would turn ciphertext into the column's data.
        """
        try:
            plain: bytes = self.crypto.cipher.decrypt(raw)
            return plain
        except (DecryptionError, KeyNotFoundError) as exc:
            error: DecryptionError | KeyNotFoundError | None = exc
        try:
            version, kid, _ = split_header(raw)
        except EnvelopeError:
            return None
        ring = self.crypto.cipher.keyring()
        # A key id the keyring lacks is not quoted: the value may be plaintext that only
        # begins like an envelope, and then those bytes are part of it.
        shown = f"key id {kid!r}" if kid in ring else "a key id the keyring lacks (not shown)"
        if version != AEAD_V1:
            problem = f"holds a pgcrypto envelope ({shown}), which the AEAD types do not read"
            fix = "decrypt that row with the pgcrypto type that wrote it, or repair or clear it"
        elif isinstance(error, KeyNotFoundError):
            held = ", ".join(repr(k) for k in ring.ids)
            problem = f"holds an envelope under {shown}; the keyring holds {held}"
            fix = (
                "if a key was removed too early, add it back after the active one (the key id "
                "is the value's bytes 3 to 2 + get_byte(value, 1))"
            )
            error = None  # its message names the key id
        else:
            problem = (
                f"holds an envelope under key id {kid!r} that the keyring's key {kid!r} does "
                "not decrypt (another key under that id, or the row was altered, truncated "
                "or copied from another column)"
            )
            fix = "use the keyring that encrypted the column, or repair or clear that row"
        intact = "it is not encrypted a second time" if self.encrypt else "it stays as it is"
        lookalike = (
            " (if it is plaintext that only begins like an envelope, set it yourself to the "
            f"bytes {type(self.crypto).__name__}(context={self.crypto.cipher.name!r})"
            ".encrypt(value))"
        )
        if error is None:
            raise self.stop(key, f"{problem}; {intact}", fix + lookalike) from None
        raise self.stop(key, f"{problem}; {intact}", fix + lookalike) from error

    def canonical(self, key: Any, raw: bytes) -> bytes:
        """``raw`` (the column's text form, as UTF-8) in the bytes the type itself writes: the
        blind index must match ``blind_eq`` (jsonb and timestamptz print otherwise), and a
        value the type cannot read stops the run here instead of failing every later read."""
        crypto = self.crypto
        try:
            return crypto.to_bytes(crypto.from_bytes(raw))
        except Exception:  # noqa: S110 - raised below, outside it: the parser's error quotes
            pass
        raise self.stop(
            key,
            f"does not hold a value {type(crypto).__name__} can read",
            "fix or clear that row, or choose the type matching the column",
        )

    def stop(self, key: Any, problem: str, fix: str) -> EncryptColumnError:
        """The error for the row ``key``: what is wrong, the fix, and what this run wrote."""
        if self.encrypt:
            done, again = "encrypted", "a new run skips them"
        else:
            done, again = "decrypted", "the column stays bytea until every row decrypts"
        if self.last is None:
            batches = "nothing was written (the run stopped in its first batch)"
        else:
            batches = (
                f"nothing of this batch ({self.pk} > {self.last}) was written; this run's "
                f"earlier batches {done} {self.changed} rows and committed them ({again})"
            )
        return EncryptColumnError(
            f"{self.column}, row {self.pk} {key}: {problem}. Fix: {fix}, then run "
            f"the step again. So far {batches}. The value is not shown."
        )


__all__ = ["DecryptColumnOp", "EncryptColumnError", "EncryptColumnOp"]
