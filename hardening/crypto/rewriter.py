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
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    LargeBinary,
    bindparam,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection, Row

from hardening.crypto.base import EncryptedBase
from hardening.crypto.envelope import AEAD_V1, PGP_V1, split_header
from hardening.crypto.index_format import index_key_id
from hardening.crypto.plan import ColumnPlan
from hardening.crypto.redacted import Secret
from hardening.errors import DecryptionError, EnvelopeError, KeyNotFoundError, RewriteError

__all__ = ["ColumnRewriter", "Direction", "WalkState"]

# A stored value that cannot be decrypted (also what a pgcrypto SELECT raises).
UNREADABLE = (DecryptionError, KeyNotFoundError)
Connect = Callable[[], AbstractContextManager[Connection]]


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
    ) -> None:
        self.plan = plan
        self.type = column_type
        self.cipher = column_type.cipher
        self.direction = direction
        self.error = error
        self.kind = PGP_V1 if column_type.decrypted_in_sql else AEAD_V1
        self.index = plan.blind_index if direction is not Direction.DECRYPT else None
        self.table = plan.model(column_type if self.kind == PGP_V1 else None)
        self.pk = self.table.c[plan.key]
        self.col = self.table.c[plan.column]
        self.raw = type_coerce(self.col, LargeBinary)  # the stored bytes, never decrypted
        values: dict[Any, Any] = {self.col: bindparam("b_new", type_=self.col.type)}
        if self.index:
            values[self.table.c[self.index]] = bindparam("b_bidx")
        self.update = (
            update(self.table)
            .where(self.pk == bindparam("b_pk"), self.raw == bindparam("b_old", type_=LargeBinary))
            .values(values)
        )

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
    ) -> None:
        """One pass over the rows matching ``where``, from the first key to the last.

        Args:
            connect: opens what each batch runs in (``engine.begin`` for a transaction per
                batch; a connection in autocommit mode commits each statement).
            state: updated as batches commit; read by the error of a row that stops.
            batch_size: rows per batch.
            where: more conditions on the rows to rewrite (NULLs are never read).
            lock: read each batch ``FOR UPDATE``.
            on_batch: called after each batch.

        Example::

            rewriter.walk(engine.begin, state, batch_size=500, where=[stale], lock=True)
        """
        state.last = None
        while True:
            with connect() as conn:
                read = self._batch(connect, conn, state, batch_size, where, lock)
            if on_batch is not None:
                on_batch()
            if not read:
                return

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
        after = [self.pk > state.last] if state.last is not None else []
        rows = self._rows(connect, conn, state, [*where, *after], size, lock)
        if not rows:
            return 0
        # Every row of the batch is checked before its one UPDATE is sent: a row that stops
        # the run leaves the whole batch unwritten.
        changes = (self._change(row, state) for row in rows)
        params = [p for p in changes if p is not None]
        written = int(conn.execute(self.update, params).rowcount) if params else 0
        state.changed += written
        state.skipped += len(params) - written
        state.last = rows[-1][0]
        return len(rows)

    def _rows(
        self,
        connect: Connect,
        conn: Connection,
        state: WalkState,
        where: Sequence[Any],
        size: int,
        lock: bool,
    ) -> Sequence[Row[Any]]:
        """The first ``size`` rows matching ``where`` in key order: key, stored bytes and, for
        pgcrypto, the value PostgreSQL decrypted; for a rotation, the blind index."""
        query = select(self.pk, self.raw.label("raw"))
        if self.kind == PGP_V1:
            query = query.add_columns(self.col.label("plain"))
        if self.index and self.direction is Direction.ROTATE:
            query = query.add_columns(self.table.c[self.index].label("bidx"))
        query = query.where(self.raw.is_not(None), *where).order_by(self.pk).limit(size)
        try:
            return conn.execute(query.with_for_update() if lock else query).all()
        except UNREADABLE:  # pgcrypto failed the whole statement: which row?
            pass
        raise self._find_unreadable(connect, state, where, size)

    def _find_unreadable(
        self, connect: Connect, state: WalkState, where: Sequence[Any], size: int
    ) -> RewriteError:
        """The row among the first ``size`` matching ``where`` that pgcrypto cannot decrypt
        (its error names no row): each one is read on its own."""
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
        if self.kind == PGP_V1:  # decrypted by PostgreSQL; rewritten by the type's SQL
            plain = row.plain.encode() if isinstance(row.plain, str) else bytes(row.plain)
            new = row.plain
        else:
            opened = self._open(state, pk, raw)
            if self.direction is Direction.ENCRYPT:
                if opened is not None:
                    return None  # already encrypted: an earlier run did it
                plain = self._canonical(state, pk, raw)
                old, new = Secret(raw), self.cipher.encrypt(plain)  # a failed UPDATE lists old
            elif opened is None:
                return None  # DECRYPT: plaintext already (an earlier run did it)
            elif self.direction is Direction.ROTATE:
                plain, new = opened, self.cipher.encrypt(opened)
            else:
                plain, new = opened, Secret(opened)
        params = {"b_pk": pk, "b_old": old, "b_new": new}
        if self.index:
            canonical = self._index_form(state, pk, plain)
            self._check_index(state, row, plain, canonical)
            params["b_bidx"] = self.cipher.blind_hash(canonical)
        return params

    def _open(self, state: WalkState, pk: Any, raw: bytes) -> bytes | None:
        """The plaintext of ``raw``; None when it has no envelope header and plaintext can
        be there. Any other value that does not decrypt stops the run."""
        try:
            return self.cipher.decrypt(raw)
        except UNREADABLE as exc:
            error: Exception = exc
        if self.direction.plaintext_possible:
            try:
                split_header(raw)
            except EnvelopeError:
                return None
        raise self.unreadable(state, pk, raw, error)

    def _canonical(self, state: WalkState, pk: Any, raw: bytes) -> bytes:
        """``raw`` (the column's text form, as UTF-8) in the bytes the type itself writes: the
        blind index must match ``blind_eq`` (jsonb and timestamptz print otherwise), and a
        value the type cannot read stops the run here instead of failing every later read."""
        return self._read(state, pk, raw, self.type.to_bytes, "")

    def _index_form(self, state: WalkState, pk: Any, plain: bytes) -> bytes:
        """What the blind index hashes for the value stored as ``plain``: its canonical form
        as the column's type makes it; a value the type cannot read stops the run."""
        return self._read(
            state, pk, plain, self.type.index_bytes, ", so its blind index cannot be computed"
        )

    def _read(
        self, state: WalkState, pk: Any, data: bytes, form: Callable[[Any], bytes], why: str
    ) -> bytes:
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
        kind = "an AEAD" if self.kind == AEAD_V1 else "a pgcrypto"
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
        if version != self.kind:
            found, writer, reader = (
                ("a pgcrypto", "pgcrypto", "AEAD")
                if version == PGP_V1
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
            as_ = f" as {context}" if context != f"{self.plan.table}.{self.plan.column}" else ""
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
