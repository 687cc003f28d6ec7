"""Key rotation: re-encrypt every value of a column that is not under the active key.

``rotate(engine, "users", "ssn")`` (or ``hardening rotate --url ... --table users --column ssn``)
walks the table in primary-key order in batches of ``batch_size``, one short transaction per
batch, and only reads rows whose envelope header is not the active key's, so a second run, or a
run after an interruption, continues where the last one stopped and a finished column costs one
index-less scan. Each row is written back with a compare-and-set on its old ciphertext: a row
another connection changed meanwhile is left alone (it holds what that writer wrote) and is
picked up by the next pass. Passes repeat until no row is left or a pass makes no progress.

AEAD columns are decrypted and re-encrypted in Python; pgcrypto columns in PostgreSQL (the old
and new passwords are bind parameters). A blind-index column named with ``blind_index=`` is
recomputed under the active key in the same UPDATE.

Before the first batch (and before the first ``progress`` call) the table and columns are
checked and the first ``SAMPLE_ROWS`` rows to move are decrypted, and so are the first ones
with a blind index. A row that cannot be moved (it does not decrypt, its key is not in the
keyring, or its blind index is neither NULL nor the HMAC of its value under a keyring key:
the named column holds something else, which rotating would overwrite) stops the run with
``RotationStopped``, naming the row by its primary key and its key id, never its bytes; its
batch is not written, the batches before it stay committed, and a run after the fix resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    Table,
    and_,
    bindparam,
    create_engine,
    func,
    inspect,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, Row

from hardening.crypto.aead import EncryptedBytes
from hardening.crypto.envelope import AEAD_V1, PGP_V1, header, split_header
from hardening.crypto.keys import KeyHook, KeySource
from hardening.crypto.pgcrypto import PGPBytes, PGPText, PGPType
from hardening.errors import (
    DecryptionError,
    EnvelopeError,
    HardeningError,
    KeyNotFoundError,
    RotationError,
    RotationStopped,
)

Progress = Callable[[int, int], None]  # (rows done so far, rows to do)
SAMPLE_ROWS = 100  # rows checked before the first batch
_UNREADABLE = (DecryptionError, KeyNotFoundError)  # a stored value that cannot be decrypted


@dataclass
class RotationReport:
    table: str
    column: str
    key_id: str
    rotated: int = 0
    skipped_concurrent: int = 0
    remaining: int = 0
    passes: int = 0


class _BadRow(HardeningError):
    """A row the run cannot go past; the message names it by primary key, never its data."""


def rotate(
    bind: Engine | URL | str,
    table: str,
    column: str,
    *,
    schema: str | None = None,
    blind_index_column: str | None = None,
    batch_size: int = 500,
    keys: KeyHook | KeySource | None = None,
    context: str | None = None,
    progress: Progress | None = None,
    max_passes: int = 5,
) -> RotationReport:
    """Move every value of ``table.column`` to the active key; see the module docstring.

    ``batch_size`` and ``max_passes`` below 1 are a ``ValueError`` naming the parameter."""
    at_least_one("batch_size", batch_size)
    at_least_one("max_passes", max_passes)
    engine = bind if isinstance(bind, Engine) else create_engine(bind)
    report: RotationReport | None = None
    try:
        job = _Job(engine, table, column, schema, blind_index_column, keys, context)
        job.check_sample()
        report = RotationReport(table, column, job.active_id)
        _passes(job, report, batch_size, max_passes, progress)
        return report
    except _BadRow as bad:
        done = (
            f"the {report.rotated} values moved to key {report.key_id!r} before it stay committed"
            if report and report.rotated
            else "no row was changed"
        )
        stopped = RotationStopped(f"{bad}; {done}; run rotate again after the fix", report)
    finally:
        if engine is not bind:
            engine.dispose()
    raise stopped  # outside the except block: no __context__


def _passes(
    job: _Job, report: RotationReport, batch_size: int, max_passes: int, progress: Progress | None
) -> None:
    todo = job.count()
    done = 0
    if progress:
        progress(0, todo)
    while todo and report.passes < max_passes:
        report.passes += 1
        before = report.rotated
        last: Any = None
        while True:
            with job.engine.begin() as conn:
                n, skipped, last = job.batch(conn, last, batch_size)
            report.rotated += n
            report.skipped_concurrent += skipped
            done += n
            if progress:
                progress(done, max(todo, done))
            if n + skipped == 0:
                break
        todo = job.count()
        if report.rotated == before:
            break
    report.remaining = todo


def _check_bytea(
    table: str, column: str, types: dict[str, Any], option: str, otherwise: str
) -> None:
    if column not in types:
        raise RotationError(f"{table} has no column {column!r} (check {option})")
    if not isinstance(types[column], LargeBinary):
        raise RotationError(f"{table}.{column} is of type {types[column]}, not bytea: {otherwise}")


def at_least_one(name: str, value: int) -> int:
    """``value`` if it is a whole number of at least 1, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


class _Job:
    def __init__(
        self,
        engine: Engine,
        table: str,
        column: str,
        schema: str | None,
        bidx: str | None,
        keys: KeyHook | KeySource | None,
        context: str | None,
    ) -> None:
        insp = inspect(engine)
        if not insp.has_table(table, schema):
            where = f"{schema}.{table}" if schema else table
            raise RotationError(f"table {where} does not exist (check --table and --schema)")
        pk_cols = insp.get_pk_constraint(table, schema)["constrained_columns"]
        if len(pk_cols) != 1:
            raise RotationError(
                f"{table} needs a single-column primary key for keyset pagination "
                f"(it has {pk_cols or 'none'})"
            )
        types = {c["name"]: c["type"] for c in insp.get_columns(table, schema)}
        _check_bytea(
            table,
            column,
            types,
            "--column",
            "it is not an encrypted column (a plaintext column is converted with "
            "op.encrypt_column, not rotated)",
        )
        if bidx is not None:
            fix = (
                f"--blind-index names the bytea column declared with mapped_blind_index({column!r})"
            )
            if bidx in (column, pk_cols[0]):
                raise RotationError(f"{table}.{bidx} cannot be the blind index of {column}: {fix}")
            _check_bytea(table, bidx, types, "--blind-index", f"it is not a blind index ({fix})")
        self.engine = engine
        self.pk_name = pk_cols[0]
        self.where = f"{table}.{column}"
        ctx = context or f"{table}.{column}"
        self.kind = self._kind(engine, table, column, schema, types[self.pk_name])
        self.crypto: Any
        if self.kind == AEAD_V1:
            self.crypto = EncryptedBytes(context=ctx, keys=keys)
        else:
            self.crypto = self._pgp_type(table, column, schema, types[self.pk_name], ctx, keys)
        cols: list[Column[Any]] = [
            Column(self.pk_name, types[self.pk_name], primary_key=True),
            Column(column, self.crypto if self.kind == PGP_V1 else LargeBinary),
        ]
        if bidx:
            cols.append(Column(bidx, LargeBinary))
        self.table = Table(table, MetaData(), *cols, schema=schema)
        self.pk = self.table.c[self.pk_name]
        self.col = self.table.c[column]
        self.raw = type_coerce(self.col, LargeBinary)
        self.bidx = bidx
        self.state = self.crypto.cipher
        self.active_id = self.state.keyring().active.id
        self.head = header(self.kind, self.active_id)

    @staticmethod
    def _kind(engine: Engine, table: str, column: str, schema: str | None, pk_type: Any) -> int:
        t = Table(
            table,
            MetaData(),
            Column("pk_unused", pk_type),
            Column(column, LargeBinary),
            schema=schema,
        )
        with engine.connect() as conn:
            first = conn.execute(
                select(func.get_byte(t.c[column], 0)).where(t.c[column].is_not(None)).limit(1)
            ).scalar()
        if first in (None, AEAD_V1):
            return AEAD_V1
        if first == PGP_V1:
            return PGP_V1
        # No byte of the value in the message: it may be the first byte of a plaintext.
        raise RotationError(
            f"{table}.{column} does not hold the kit's envelopes (a value is neither an AEAD "
            "nor a pgcrypto one): a plaintext column is converted with op.encrypt_column, "
            "not rotated"
        )

    def _pgp_type(
        self,
        table: str,
        column: str,
        schema: str | None,
        pk_type: Any,
        ctx: str,
        keys: KeyHook | KeySource | None,
    ) -> PGPType[Any]:
        """PGPText when the messages are text packets, else PGPBytes (their SQL differs),
        found by decrypting the first row; if neither can, that row stops the run."""
        error: Exception | None = None
        for candidate in (PGPText(context=ctx, keys=keys), PGPBytes(context=ctx, keys=keys), None):
            t = Table(
                table,
                MetaData(),
                Column(self.pk_name, pk_type, primary_key=True),
                Column(column, candidate or LargeBinary),
                schema=schema,
            )
            first = (
                select(t.c[self.pk_name], type_coerce(t.c[column], LargeBinary), t.c[column])
                .where(t.c[column].is_not(None))
                .order_by(t.c[self.pk_name])
                .limit(1)
            )
            try:
                with self.engine.connect() as conn:
                    pk, raw, _ = conn.execute(first).one()
            except _UNREADABLE as exc:
                error = exc
                continue
            if candidate is not None:
                return candidate
        raise self._unreadable(pk, raw, error)  # read without decrypting (candidate None)

    def _stale(self) -> Any:
        return and_(
            self.raw.is_not(None),
            func.substr(self.raw, 1, len(self.head)) != self.head,
        )

    def count(self) -> int:
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(self.table).where(self._stale()))
            return int(n.scalar_one())

    def check_sample(self) -> None:
        """Decrypt the first ``SAMPLE_ROWS`` stale rows, and the first ones with a blind index,
        so that a missing key, a wrong context, a blind-index column holding something else
        or a bad row there stops the run before any row changes."""
        samples = [[self._stale()]]
        if self.bidx:
            samples.append([self._stale(), self.table.c[self.bidx].is_not(None)])
        with self.engine.connect() as conn:
            for where in samples:
                self._plaintexts(self._rows(conn, where, SAMPLE_ROWS, lock=False))

    def batch(self, conn: Connection, last: Any, size: int) -> tuple[int, int, Any]:
        """Rotate the next ``size`` stale rows after primary key ``last``; a row that stops the
        run is found before anything of the batch is written."""
        where = [self._stale()] if last is None else [self._stale(), self.pk > last]
        rows = self._rows(conn, where, size, lock=True)
        if not rows:
            return 0, 0, last
        params: list[dict[str, Any]] = []
        for row, plain in zip(rows, self._plaintexts(rows), strict=True):
            new = self.state.encrypt(plain) if self.kind == AEAD_V1 else row.plain
            p = {"b_pk": row[0], "b_old": row.raw, "b_new": new}
            if self.bidx:
                p["b_bidx"] = self.state.blind_hash(plain)
            params.append(p)
        values: dict[Any, Any] = {self.col: bindparam("b_new", type_=self.col.type)}
        if self.bidx:
            values[self.table.c[self.bidx]] = bindparam("b_bidx")
        stmt = (
            update(self.table)
            .where(self.pk == bindparam("b_pk"), self.raw == bindparam("b_old", type_=LargeBinary))
            .values(values)
        )
        result = conn.execute(stmt, params)
        changed = int(result.rowcount)
        return changed, len(rows) - changed, rows[-1][0]

    def _rows(
        self, conn: Connection, where: list[Any], size: int, lock: bool
    ) -> Sequence[Row[Any]]:
        """The first ``size`` rows matching ``where`` in primary-key order: key, stored bytes
        and, for pgcrypto, the value PostgreSQL decrypted."""
        query = select(self.pk, self.raw.label("raw")).where(*where)
        if self.kind == PGP_V1:
            query = query.add_columns(self.col.label("plain"))
        if self.bidx:
            query = query.add_columns(self.table.c[self.bidx].label("bidx"))
        query = query.order_by(self.pk).limit(size)
        try:
            return conn.execute(query.with_for_update() if lock else query).all()
        except _UNREADABLE:  # pgcrypto failed the whole statement: which row?
            pass
        raise self._find_unreadable(where, size)

    def _plaintexts(self, rows: Sequence[Row[Any]]) -> list[bytes]:
        """Each row's plaintext; a row that does not decrypt, or whose blind index is neither
        NULL nor its value's under a keyring key, stops the run."""
        if self.kind == PGP_V1:
            plains = [r.plain.encode() if isinstance(r.plain, str) else r.plain for r in rows]
        else:
            plains = [self._decrypt(row[0], row.raw) for row in rows]
        if self.bidx:
            for row, plain in zip(rows, plains, strict=True):
                if row.bidx is not None and bytes(row.bidx) not in self.state.blind_hashes(plain):
                    raise _BadRow(
                        f"{self.table.name}.{self.bidx}: the row {self.pk_name}={row[0]!r} holds "
                        f"a value that is not the blind index of {self.col.name} under any key "
                        "of the keyring: --blind-index names the bytea column declared with "
                        f"mapped_blind_index({self.col.name!r})"
                    )
        return plains

    # -- a row that stops the run ---------------------------------------------------------------
    def _decrypt(self, pk: Any, raw: bytes) -> bytes:
        try:
            return bytes(self.state.decrypt(raw))
        except _UNREADABLE as exc:
            error = exc
        raise self._unreadable(pk, raw, error)

    def _find_unreadable(self, where: list[Any], size: int) -> _BadRow:
        """The row among the first ``size`` matching ``where`` that pgcrypto cannot decrypt
        (its error names no row): each one is read on its own."""
        query = select(self.pk, self.raw).where(*where).order_by(self.pk).limit(size)
        with self.engine.connect() as conn:
            for pk, raw in conn.execute(query).all():
                try:
                    conn.execute(select(self.col).where(self.pk == pk)).all()
                    continue
                except _UNREADABLE as exc:
                    error = exc
                return self._unreadable(pk, raw, error)
        return _BadRow(f"{self.where}: pgcrypto could not decrypt a row (changed since?)")

    def _unreadable(self, pk: Any, raw: bytes, error: Exception | None) -> _BadRow:
        """What is wrong with the row ``pk``, from its header and the type of ``error``: its
        key id, never its bytes (``error``'s message may quote one)."""
        try:
            version, kid, _ = split_header(raw)
        except EnvelopeError:
            version, kid = 0, ""
        if version != self.kind:
            kind = "an AEAD" if self.kind == AEAD_V1 else "a pgcrypto"
            problem = f"does not hold {kind} envelope (written without the column's type?)"
        elif isinstance(error, KeyNotFoundError):
            problem = (
                f"is under key id {kid!r}, which the keyring does not hold (add that key back "
                "to HARDENING_KEYS after the active one)"
            )
        else:
            problem = (
                f"does not decrypt under key id {kid!r} (wrong key or --context, or the value "
                "was altered, truncated or copied from another column)"
            )
        return _BadRow(f"{self.where}: the row {self.pk_name}={pk!r} {problem}")
