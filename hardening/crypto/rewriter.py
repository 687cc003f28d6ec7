"""One column rewriter: a table walked in primary-key batches, one column rewritten row by row.

``rotate`` (every value to the active key) and ``op.encrypt_column`` / ``op.decrypt_column``
(plaintext to envelopes and back) are this one algorithm in three ``Direction``\\ s:

1. ``inspect_column`` (``hardening.crypto.plan``) reads the table and changes nothing: it
   must exist and hold the column, its primary key must be one column (the walk is keyset
   pagination), a named blind-index column must be ``bytea`` and neither the column nor the
   key. It returns a ``ColumnPlan``.
2. ``ColumnRewriter(plan, column_type, direction)`` (no I/O) walks the table in key order,
   ``batch_size`` rows at a time. Every row of a batch gets its new value (and its blind
   index under the active key) before the batch is written in one UPDATE, with a
   compare-and-set on each row's old bytes: a row another connection changed meanwhile is
   left as that writer left it.
3. A row that cannot be rewritten stops the walk before its batch is written. The error
   (``RotationStopped`` or ``EncryptColumnError``, both ``RewriteError``) is one line::

       users.ssn, row id 7: <what is wrong>. Fix: <the fix>, then <run again>.
       So far <what earlier batches wrote>. The value is not shown.

   It names the row by its primary key and, for an envelope, its key id: never a byte of
   the value, a plaintext or a key.

A value without an envelope header is plaintext where plaintext can be (``ENCRYPT``: it is
encrypted; ``DECRYPT``: it stays), and a stop in ``ROTATE``. A value with a header that does
not decrypt is never taken for plaintext: encrypting it again would store ciphertext as the
value, and leaving it in a downgrade would turn ciphertext into the column's data.

Every value is written in the current form: an AEAD value in format 3 (format 4, bound to
its row's primary key, which the walk reads with it, when the type says ``bind_row=True``),
in the fixed-width form and padding of the column's type; a pgcrypto value in format 5.
``keep_form=True`` (``rotate`` without the column's type) keeps each AEAD value's payload and
row binding as they are and moves only its key and format: it cannot know the type's form.

A named blind index is written with every row, in index format 2 under the active key
(``hardening.crypto.index_format``), over the value's canonical form
(``hardening.crypto.canonical``), which is made from the value's text form: padding and
fixed-width forms play no part, so a value hashes alike whatever format held it. A rotation
first checks the index it overwrites: NULL, or the index of the row's value (format 1, or
format 2 under a keyring key); an index made by a key the keyring lacks, or another row's,
stops the run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import (
    LargeBinary,
    Text,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.types import Integer, Uuid

from hardening.crypto.base import EncryptedBase
from hardening.crypto.batches import BatchUpdate, Pipeline
from hardening.crypto.envelope import AEAD_ROW, PGP_VERSIONS, has_header, split_header
from hardening.crypto.hooks import BINARY_RESULTS
from hardening.crypto.index_format import index_key_id
from hardening.crypto.payload import text_form
from hardening.crypto.plan import ColumnPlan
from hardening.crypto.redacted import Secret
from hardening.crypto.rows import key_kind, row_key
from hardening.errors import (
    ColumnOptionError,
    DecryptionError,
    EnvelopeError,
    KeyNotFoundError,
    RewriteError,
)

__all__ = ["ColumnRewriter", "Direction", "WalkState"]

_R = TypeVar("_R")
_ROW_BOUND = bytes((AEAD_ROW,))
# A stored value that cannot be decrypted (also what a pgcrypto SELECT raises).
UNREADABLE = (DecryptionError, KeyNotFoundError)
Connect = Callable[[], AbstractContextManager[Connection]]


def _itself(value: Any) -> Any:
    return value


class Direction(enum.Enum):
    """What becomes of each row, with the words its errors use.

    Example::

        ColumnRewriter(plan, EncryptedText(context="users.ssn"), Direction.DECRYPT)
    """

    ROTATE = ("rotate", "moved {n} values to key {kid!r}", "a new run resumes after them")
    ENCRYPT = ("encrypt", "encrypted {n} rows", "a new run skips them")
    DECRYPT = ("decrypt", "decrypted {n} rows", "the column stays bytea until every row decrypts")

    def __init__(self, verb: str, done: str, again: str) -> None:
        self.verb = verb
        self.done = done
        self.again = again

    @property
    def plaintext_possible(self) -> bool:
        """A value without an envelope header is plaintext (it is no error)."""
        return self is not Direction.ROTATE

    @property
    def rerun(self) -> str:
        return "run rotate again" if self is Direction.ROTATE else "run the step again"

    @property
    def intact(self) -> str:
        """What is done with a value whose envelope does not decrypt."""
        return {
            Direction.ROTATE: "it stays under its old key",
            Direction.ENCRYPT: "it is not encrypted a second time",
            Direction.DECRYPT: "it stays as it is",
        }[self]


@dataclass
class WalkState:
    """What a run has done so far (it spans a rotation's passes).

    Args:
        changed: rows written by committed batches.
        skipped: rows a concurrent writer changed first (left as that writer left them).
        last: the primary key that ends this pass's committed batches; None before one.
        started: a batch has been read (a stop before is one of a check).

    Example::

        state = WalkState()
        rewriter.walk(engine.begin, state, batch_size=500)
        state.changed
    """

    changed: int = 0
    skipped: int = 0
    last: Any = None
    started: bool = False


class ColumnRewriter:
    """Rewrites ``plan``'s column in primary-key batches; constructing it does no I/O.

    Args:
        plan: from ``inspect_column``.
        column_type: the column's type, with its context and keys (an AEAD type is read as
            bytes and decrypted here; a pgcrypto type decrypts and encrypts in SQL).
        direction: ``ROTATE`` (to the active key), ``ENCRYPT`` or ``DECRYPT``.
        error: makes the error that stops the run at a row from its message.
        keep_form: keep each AEAD value's payload and row binding (``rotate`` without the
            column's type); False writes every value in ``column_type``'s form.
        into: ``ENCRYPT`` only: a ``bytea`` column to write the envelopes into, from the text
            of the plaintext column (``op.encrypt_column``'s shadow column), for the rows
            where it is still NULL; None rewrites the column in place.

    Example::

        plan = inspect_column(conn, "users", "ssn", blind_index="ssn_bidx")
        rewriter = ColumnRewriter(plan, EncryptedText(context="users.ssn"), Direction.ENCRYPT)
        state = WalkState()
        rewriter.walk(lambda: nullcontext(conn), state, batch_size=1000)
    """

    def __init__(
        self,
        plan: ColumnPlan,
        column_type: EncryptedBase[Any],
        direction: Direction,
        error: Callable[[str], RewriteError] = RewriteError,
        keep_form: bool = False,
        into: str | None = None,
    ) -> None:
        self.plan = plan
        self.type = column_type
        self.cipher = column_type.cipher
        self.direction = direction
        self.error = error
        self.pgp = column_type.decrypted_in_sql
        self.keep_form = keep_form
        self.bind_row = bool(getattr(column_type, "bind_row", False)) and not keep_form
        self.index = plan.blind_index if direction is not Direction.DECRYPT else None
        self.into = into
        self.table = plan.model(column_type if self.pgp else None, into)
        try:
            self.row_kind: str | None = key_kind(plan.types[plan.key], self.cipher.name)
        except ColumnOptionError as exc:
            if self.bind_row:
                raise self.error(f"{plan.name}: {exc}") from None
            self.row_kind = None  # no value of the column can be bound to its row
        self.pk = self.table.c[plan.key]
        self.col = self.table.c[plan.column]
        self.raw: Any = type_coerce(self.col, LargeBinary)  # the stored bytes, never decrypted
        self.pending: list[Any] = []  # what marks a row still to do, besides ``where``
        unchanged = None
        if into is not None:  # read the plaintext's text, write the envelopes into ``into``
            self.raw = func.convert_to(cast(self.col, Text), literal_column("'UTF8'"))
            self.col = self.table.c[into]
            self.pending = [self.col.is_(None)]
            unchanged = self.col.is_(None)  # a write to the column sets it (the trigger)
        index = self.table.c[self.index] if self.index else None
        self.writes = BatchUpdate(self.table, self.pk, self.col, index, self.pgp, unchanged)
        # stored bytes read in binary (no hex to decode) when the key loads the same in both
        binary = not self.pgp and isinstance(self.pk.type, Integer | Uuid)
        self._read_options = {BINARY_RESULTS: True} if binary else {}
        if not self.pgp:  # the type's own converters, made once
            self._to_payload = column_type._payload_fn()
            self._from_payload = column_type._value_fn()

    # -- walking -----------------------------------------------------------------------------
    def walk(
        self,
        connect: Connect,
        state: WalkState,
        *,
        batch_size: int,
        where: Sequence[Any] = (),
        lock: bool = False,
        on_batch: Callable[[], None] | None = None,
        read: Connect | None = None,
    ) -> None:
        """One pass over the rows matching ``where``, from the first key to the last.

        Args:
            connect: opens what each batch is written in (``engine.begin`` for a transaction
                per batch; a connection in autocommit mode commits each statement).
            state: updated as batches commit; read by the error of a row that stops.
            batch_size: rows per batch.
            where: more conditions on the rows to rewrite (NULLs are never read).
            lock: read each batch ``FOR UPDATE``, in the transaction that writes it.
            on_batch: called after each batch is committed, before the next is written (an
                error it raises stops the walk there).
            read: opens another connection to read with (``engine.connect``): each batch is
                then read and worked out while the one before is written
                (``batches.Pipeline``); None reads and writes each batch in one
                ``connect()``, one after the other.

        Example::

            rewriter.walk(engine.begin, state, batch_size=5000, where=[stale],
                          read=engine.connect)
        """
        state.last = None
        if read is None or lock:
            while True:
                with connect() as conn:
                    count = self._batch(connect, conn, state, batch_size, where, lock)
                if on_batch is not None:
                    on_batch()
                if not count:
                    return
        with Pipeline() as pipeline:
            after: Any = None
            while True:
                try:
                    end, params = self._work(read, state, where, after, batch_size)
                except RewriteError:
                    if not pipeline.busy:
                        raise
                    pipeline.wait()  # the error must say what the batch in flight committed
                    if on_batch is not None:
                        on_batch()
                    end, params = self._work(read, state, where, after, batch_size)
                if pipeline.busy:
                    pipeline.wait()
                    if on_batch is not None:
                        on_batch()
                if end is None:
                    return
                pipeline.submit(partial(self._commit, connect, state, end, params))
                after = end

    def _work(
        self, read: Connect, state: WalkState, where: Sequence[Any], after: Any, size: int
    ) -> tuple[Any, list[dict[str, Any]]]:
        """The key that ends the next batch after ``after`` (None: no rows are left) and the
        parameters that write it (every row checked: a row that stops the run raises here,
        before anything of it is written)."""
        state.started = True
        with read() as conn:
            end = self._range(conn, after, size)
            if end is None:
                return None, []
            rows = self._rows(read, conn, state, [*where, *self._within(after, end)], None, False)
        changes = (self._change(row, state) for row in rows)
        return end, [p for p in changes if p is not None]

    def _range(self, conn: Connection, after: Any, size: int) -> Any:
        """The key of the ``size``-th row after key ``after`` (or of the last row): a batch is
        the rows of such a range that are still to do. Ranges keep each statement's work to
        ``size`` rows of the key's index, however few rows of them are to do."""
        keys = select(self.pk.label("k"))
        if after is not None:
            keys = keys.where(self.pk > after)
        keys_ = keys.order_by(self.pk).limit(size).subquery()
        return conn.execute(select(func.max(keys_.c.k))).scalar()

    def _within(self, after: Any, end: Any) -> list[Any]:
        bounds = [self.pk <= end]
        return [self.pk > after, *bounds] if after is not None else bounds

    def _commit(
        self, connect: Connect, state: WalkState, end: Any, params: list[dict[str, Any]]
    ) -> None:
        """Write one batch in its own ``connect()`` and record it in ``state``."""
        with connect() as conn:
            written = self.writes.write(conn, params)
        state.changed += written
        state.skipped += len(params) - written
        state.last = end

    def check(self, connect: Connect, state: WalkState, where: Sequence[Any], limit: int) -> None:
        """Work out the new values of the first ``limit`` rows matching ``where`` without
        writing them: a row that would stop the run stops it now.

        Args:
            connect: opens a connection to read with.
            state: what the run has done (nothing, before its first batch).
            where: conditions on the rows to check.
            limit: how many rows.

        Example::

            rewriter.check(engine.connect, state, [stale], 100)
        """
        with connect() as conn:
            rows = self._rows(connect, conn, state, where, limit, lock=False)
        for row in rows:
            self._change(row, state)

    def _batch(
        self,
        connect: Connect,
        conn: Connection,
        state: WalkState,
        size: int,
        where: Sequence[Any],
        lock: bool,
    ) -> int:
        state.started = True
        end = self._range(conn, state.last, size)
        if end is None:
            return 0
        within = [*where, *self._within(state.last, end)]
        rows = self._rows(connect, conn, state, within, None, lock)
        # Every row of the batch is checked before its one UPDATE is sent: a row that stops
        # the run leaves the whole batch unwritten.
        changes = (self._change(row, state) for row in rows)
        params = [p for p in changes if p is not None]
        written = self.writes.write(conn, params)
        state.changed += written
        state.skipped += len(params) - written
        state.last = end
        return 1

    def _rows(
        self,
        connect: Connect,
        conn: Connection,
        state: WalkState,
        where: Sequence[Any],
        size: int | None,
        lock: bool,
    ) -> Sequence[Row[Any]]:
        """The first ``size`` rows (None: all) matching ``where`` in key order: key, stored
        bytes and, for pgcrypto, the value PostgreSQL decrypted; for a rotation, the blind
        index."""
        query = select(self.pk, self.raw.label("raw"))
        if self.pgp:
            query = query.add_columns(self.col.label("plain"))
        if self.index and self.direction is Direction.ROTATE:
            query = query.add_columns(self.table.c[self.index].label("bidx"))
        query = query.where(self.raw.is_not(None), *self.pending, *where)
        query = query.order_by(self.pk).limit(size)
        if lock:
            query = query.with_for_update()
        try:
            return conn.execute(query, execution_options=self._read_options).all()
        except UNREADABLE:  # pgcrypto failed the whole statement: which row?
            pass
        raise self._find_unreadable(connect, state, where, size)

    def _find_unreadable(
        self, connect: Connect, state: WalkState, where: Sequence[Any], size: int | None
    ) -> RewriteError:
        """The row among the first ``size`` (None: all) matching ``where`` that pgcrypto
        cannot decrypt (its error names no row): each one is read on its own."""
        query = select(self.pk, self.raw).where(self.raw.is_not(None), *where)
        with connect() as conn:
            for pk, raw in conn.execute(query.order_by(self.pk).limit(size)).all():
                try:
                    conn.execute(select(self.col).where(self.pk == pk)).all()
                    continue
                except UNREADABLE as exc:
                    error = exc
                return self.unreadable(state, pk, raw, error)
        return self._stop(
            state,
            None,
            "pgcrypto could not decrypt a row of the batch, yet each of its rows decrypts when "
            "read alone (a row changed meanwhile)",
            "nothing to repair",
        )

    # -- one row -----------------------------------------------------------------------------
    def _change(self, row: Row[Any], state: WalkState) -> dict[str, Any] | None:
        """The UPDATE's parameters for ``row``, or None to leave it as it is."""
        pk, raw = row[0], bytes(row.raw)
        old: bytes = raw
        new: Any
        plain: bytes | None = None  # the text form, made when needed (blind index, downgrade)
        if self.pgp:  # decrypted by PostgreSQL; rewritten by the type's SQL
            plain = row.plain.encode() if isinstance(row.plain, str) else bytes(row.plain)
            new = row.plain
        else:
            bound = self.bind_row or raw[:1] == _ROW_BOUND
            key = self._row_key(pk) if bound else None
            # a plaintext column's text is plaintext, whatever bytes it starts with
            opened = None if self.into else self._open(state, pk, raw, key)
            if self.direction is Direction.ENCRYPT:
                if opened is not None:
                    return None  # already encrypted: an earlier run did it
                value = self._parse(state, pk, raw)
                plain = self.type.to_bytes(value) if self.index else None
                payload = self.type._encode(value, self._to_payload)
                old, new = Secret(raw), self.cipher.seal(payload, key if self.bind_row else None)
            elif opened is None:
                return None  # DECRYPT: plaintext already (an earlier run did it)
            elif self.direction is Direction.ROTATE:
                new = self._rotated(state, pk, raw, opened, key)
            else:
                plain = self._text_form(state, pk, raw, opened or b"")
                new = Secret(plain)
            if self.index and plain is None:
                plain = self._text_form(state, pk, raw, opened or b"")
        params = {"b_pk": pk, "b_old": old, "b_new": new}
        if self.index and plain is not None:  # made above for every indexed row
            # The index hashes the value's canonical form, made from its text form: never the
            # payload (fixed-width or padded), so every value format gives the same index.
            canonical = self._index_form(state, pk, plain)
            self._check_index(state, row, plain, canonical)
            params["b_bidx"] = self.cipher.blind_hash(canonical)
        return params

    def _row_key(self, pk: Any) -> bytes | None:
        """The row key of primary key ``pk`` (None when the key's type cannot bind a row)."""
        if self.row_kind is None:
            return None
        return row_key(pk, self.row_kind)

    def _rotated(
        self, state: WalkState, pk: Any, raw: bytes, payload: bytes, key: bytes | None
    ) -> bytes:
        """The value under the active key: its own payload and binding (``keep_form``), or
        the column type's form, padding and binding."""
        if self.keep_form:
            return self.cipher.seal(payload, key if raw[0] == AEAD_ROW else None)
        try:
            value = self._from_payload(payload)
            payload = self._to_payload(value)
        except Exception:
            payload = b""
        if not payload:
            raise self._stop(
                state,
                pk,
                f"holds a value that {type(self.type).__name__} cannot read (written by another "
                "type); it stays under its old key",
                "give rotate the type the model declares for the column (--type)",
            )
        return self.cipher.seal(payload, key if self.bind_row else None)

    def _text_form(self, state: WalkState, pk: Any, raw: bytes, payload: bytes) -> bytes:
        """The text form of a decrypted payload (what blind indexes hash, what a downgrade
        stores)."""
        data = text_form(payload)
        if data is not None:
            return data
        raise self._stop(
            state, pk, "holds a value whose payload is malformed", "repair or clear that row"
        )

    def _open(self, state: WalkState, pk: Any, raw: bytes, key: bytes | None) -> bytes | None:
        """The framed payload of ``raw``; None when it has no envelope header and plaintext
        can be there. Any other value that does not decrypt stops the run."""
        if self.direction.plaintext_possible and not has_header(raw):
            return None
        try:
            return self.cipher.open(raw, key)
        except UNREADABLE as exc:
            error: Exception = exc
        raise self.unreadable(state, pk, raw, error)

    def _parse(self, state: WalkState, pk: Any, raw: bytes) -> Any:
        """The value of ``raw`` (the column's text form, as UTF-8), read by the type: a value
        the type cannot read stops the run here instead of failing every later read."""
        return self._read(state, pk, raw, _itself, "")

    def _index_form(self, state: WalkState, pk: Any, plain: bytes) -> bytes:
        """What the blind index hashes for the value whose text form is ``plain``: its
        canonical form as the column's type makes it; a value the type cannot read stops."""
        return self._read(
            state, pk, plain, self.type.index_bytes, ", so its blind index cannot be computed"
        )

    def _read(
        self, state: WalkState, pk: Any, data: bytes, form: Callable[[Any], _R], why: str
    ) -> _R:
        """``form`` of the value the type reads from ``data``; one it cannot read stops."""
        try:
            return form(self.type.from_bytes(data))
        except Exception:  # noqa: S110 - raised below, outside it: the parser's error quotes
            pass
        raise self._stop(
            state,
            pk,
            f"does not hold a value {type(self.type).__name__} can read{why}",
            "fix or clear that row, or choose the type matching the column (the one the model "
            "declares)",
        )

    def _check_index(self, state: WalkState, row: Row[Any], plain: bytes, canonical: bytes) -> None:
        """A rotation overwrites the blind index: its old value must be NULL or the index of
        the row's value under a keyring key, or the column holds something else."""
        if self.direction is not Direction.ROTATE or row.bidx is None:
            return
        stored = bytes(row.bidx)
        keys = self.cipher.index_keys()
        holds = keys.holds(stored, canonical, plain)
        if holds:
            return
        column, index = self.plan.column, self.index
        if holds is None:
            problem = (
                f"its blind index in {index!r} was made by key id {index_key_id(stored)!r}, "
                "which the keyring lacks, so it cannot be checked"
            )
            fix = (
                "add that key back to HARDENING_KEYS after the active one, or set the index "
                f"of the rows it made to NULL (rotate --blind-index {index} computes them)"
            )
        elif keys.of_column(stored):
            problem = (
                f"its blind index in {index!r} is an index of {column} but not of this row's "
                "value (another row's, a value changed without its index, or the type given "
                "is not the one the model declares)"
            )
            fix = (
                "give the type the model declares for the column (--type), or set that index "
                f"to NULL (rotate --blind-index {index} computes it)"
            )
        else:
            problem = (
                f"the column {index!r} named as its blind index holds a value that is not the "
                f"blind index of {column} under any key of the keyring (a rotation would "
                "overwrite it)"
            )
            fix = (
                "name as the blind index the bytea column declared with "
                f"mapped_blind_index({column!r})"
            )
        raise self._stop(state, row[0], problem, fix)

    # -- a row that stops the run ------------------------------------------------------------
    def unreadable(
        self, state: WalkState, pk: Any, raw: bytes, error: Exception | None
    ) -> RewriteError:
        """The error that stops the run at the row ``pk``, whose stored value ``raw`` does not
        decrypt: what is wrong, from its header and the type of ``error``, with its key id,
        never its bytes (``error``'s message may quote one).

        Args:
            state: what the run has done so far.
            pk: the row's primary key.
            raw: the stored value.
            error: what decrypting it raised (kept as the cause unless it names a key id
                the message hides), or None.

        Example::

            raise rewriter.unreadable(state, 7, stored, DecryptionError(...))
        """
        kind = "a pgcrypto" if self.pgp else "an AEAD"
        try:
            version, kid, _ = split_header(raw)
        except EnvelopeError:
            return self._stop(
                state,
                pk,
                f"does not hold {kind} envelope (plaintext, or written without the column's "
                f"type); {self.direction.intact}",
                "write it through the column's type, or clear that row",
            )
        ring = self.cipher.keyring()
        # In a column that may hold plaintext, a key id the keyring lacks is not quoted: the
        # value may be plaintext that only begins like an envelope, and then those bytes are
        # part of it.
        hide = self.direction.plaintext_possible and kid not in ring
        shown = "a key id the keyring lacks (not shown)" if hide else f"key id {kid!r}"
        cause = error
        if (version in PGP_VERSIONS) != self.pgp:
            found, writer, reader = (
                ("a pgcrypto", "pgcrypto", "AEAD")
                if version in PGP_VERSIONS
                else ("an AEAD", "AEAD", "pgcrypto")
            )
            problem = f"holds {found} envelope ({shown}), which the {reader} types do not read"
            fix = f"decrypt that row with the {writer} type that wrote it, or repair or clear it"
        elif kid not in ring:
            problem = f"holds an envelope under {shown}; the keyring holds " + ", ".join(
                repr(k) for k in ring.ids
            )
            fix = (
                "if a key was removed too early, add it back to HARDENING_KEYS after the active one"
            )
            if hide:
                fix += " (the key id is the value's bytes 3 to 2 + get_byte(value, 1))"
            cause = None  # its message names the key id
        else:
            context = self.cipher.name
            as_ = f" as {context}" if context != self.plan.name else ""
            problem = (
                f"holds an envelope under key id {kid!r} that the keyring's key {kid!r} does "
                f"not decrypt{as_} (another key under that id, or the row was altered, "
                "truncated or copied from another column)"
            )
            fix = "use the keyring that encrypted the column, or repair or clear that row"
        if self.direction.plaintext_possible:
            fix += (
                " (if it is plaintext that only begins like an envelope, set it yourself to the "
                f"bytes {type(self.type).__name__}(context={self.cipher.name!r}).encrypt(value))"
            )
        stop = self._stop(state, pk, f"{problem}; {self.direction.intact}", fix)
        stop.__cause__ = cause
        return stop

    def _stop(self, state: WalkState, pk: Any, problem: str, fix: str) -> RewriteError:
        """The error for the row ``pk``: what is wrong, the fix, and what this run wrote."""
        row = f", row {self.plan.key} {pk!r}" if pk is not None else ""
        return self.error(
            f"{self.plan.name}{row}: {problem}. Fix: {fix}, then {self.direction.rerun}. "
            f"So far {self._so_far(state)}. The value is not shown."
        )

    def _so_far(self, state: WalkState) -> str:
        if not state.changed and state.last is None:
            when = "in its first batch" if state.started else "before its first batch"
            return f"nothing was written (the run stopped {when})"
        batch = f" ({self.plan.key} > {state.last!r})" if state.last is not None else ""
        done = self.direction.done.format(n=state.changed, kid=self.cipher.keyring().active.id)
        return (
            f"nothing of this batch{batch} was written; this run's earlier batches {done} and "
            f"committed them ({self.direction.again})"
        )
