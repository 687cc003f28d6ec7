"""Key rotation: re-encrypt every value of a column that is not under the active key, or not in
the current form.

``rotate(engine, "users", "ssn")`` (or ``hardening rotate --url ... --table users --column ssn``)
walks the table in primary-key order, ``batch_size`` keys at a time, one short transaction
per batch, and only rewrites rows whose envelope header is not the active key's (in the
current form), so a second run, or a run after an interruption, continues where the last one
stopped. Each batch is written in one UPDATE with a compare-and-set on each row's old
ciphertext: a row another connection changed meanwhile is left alone (it holds what that
writer wrote) and is picked up by the next pass; rows are not locked while their batch is
worked out, and the next batch is read and worked out while one is written
(``hardening.crypto.batches``). Passes repeat until no row is left or a pass makes no
progress. The walk is the one column rewriter of ``hardening.crypto.rewriter``, which
``op.encrypt_column`` uses as well.

AEAD columns are decrypted and re-encrypted in Python; pgcrypto columns in PostgreSQL (the old
and new passwords are bind parameters; the text or bytes flavour is found by reading the
first row). A blind-index column named with ``blind_index_column=`` is recomputed under the
active key, in index format 2, in the same UPDATE: a row is to move when its value is not
under the active key or its index was not made by it (an index value says which key made
it; a format-1 value, or a NULL index of a value, counts as not), so a run finds what an
earlier run without the index left behind. For an AEAD column the index needs the
column's type (``column_type=``, ``--type``): it hashes the value's canonical form, which
only the type knows. A column whose blind index is not named is refused when the table
holds its index in another ``bytea`` column (found by the values' prefix, or for format 1 in
the first ``SAMPLE_ROWS`` rows): the index would stay under the old key, and lookups would
fail once that key is removed.

**The current form.** Every value is written in the current format (AEAD 3 or 4, pgcrypto
5), so values of the first formats (AEAD 1, pgcrypto 2: one key for every column, bound to
``table.column`` only) are "stale" too and move. Given the column's type
(``column_type=``, ``hardening rotate --type``), a run also moves every AEAD value to that
type's form: its fixed-width form, its padding, its row binding (``bind_row``); without it,
each value keeps its payload and binding and only its key and format change.

Before the first batch (and before the first ``progress`` call) the table and columns are
checked, and the first ``SAMPLE_ROWS`` rows to move are decrypted, and so are the first ones
with a blind index. A row that cannot be moved (it does not decrypt, its key is not in the
keyring, or its blind index is neither NULL nor the HMAC of its value under a keyring key:
the named column holds something else, which rotating would overwrite) stops the run with
``RotationStopped``, naming the row by its primary key and its key id, never its bytes; its
batch is not written, the batches before it stay committed, and a run after the fix resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    Table,
    and_,
    create_engine,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from hardening.crypto.aead import EncryptedBytes, EncryptedType
from hardening.crypto.base import EncryptedBase
from hardening.crypto.context import ColumnContext
from hardening.crypto.envelope import AEAD_ROW, AEAD_V2, AEAD_VERSIONS, PGP_V2, PGP_VERSIONS
from hardening.crypto.index_format import MAC_BYTES, prefix_end
from hardening.crypto.keys import KeyHook, KeySource
from hardening.crypto.pgcrypto import PGPBytes, PGPText, PGPType
from hardening.crypto.plan import ColumnPlan, at_least_one, inspect_column
from hardening.crypto.redacted import sealed
from hardening.crypto.rewriter import UNREADABLE, ColumnRewriter, Direction, WalkState
from hardening.errors import RotationError, RotationStopped

__all__ = ["SAMPLE_ROWS", "RotationReport", "at_least_one", "find_blind_indexes", "rotate"]

Progress = Callable[[int, int], None]  # (rows done so far, rows to do)
SAMPLE_ROWS = 100  # rows checked before the first batch


@dataclass
class RotationReport:
    """What a rotation did.

    Args:
        table: the table's name.
        column: the column's name.
        key_id: the active key, which every moved value is now under.
        rotated: values moved to it.
        skipped_concurrent: rows another connection changed while their batch ran (left as
            that writer left them; a later pass takes them if they are still stale).
        remaining: values still under an older key at the end (another writer kept writing
            them during every pass).
        passes: passes over the table.

    Example::

        report = rotate(engine, "users", "ssn")
        assert report.remaining == 0, f"{report.remaining} values left under an older key"
    """

    table: str
    column: str
    key_id: str
    rotated: int = 0
    skipped_concurrent: int = 0
    remaining: int = 0
    passes: int = 0


def rotate(
    bind: Engine | URL | str,
    table: str,
    column: str,
    *,
    schema: str | None = None,
    blind_index_column: str | None = None,
    batch_size: int = 500,
    keys: KeyHook | KeySource | None = None,
    context: ColumnContext | str | None = None,
    progress: Progress | None = None,
    max_passes: int = 5,
    column_type: TypeEngine[Any] | type[EncryptedBase[Any]] | None = None,
) -> RotationReport:
    """Move every value of ``table.column`` to the active key (the first of the keyring),
    in batches, resumable, without losing a concurrent write (see the module docstring).

    Args:
        bind: the database: an ``Engine`` (left open), or a URL (an engine is made and
            disposed of).
        table: the table's name; it needs a one-column primary key.
        column: the encrypted column (``bytea`` holding the kit's AEAD or pgcrypto
            envelopes; a plaintext column is converted with ``op.encrypt_column``).
        schema: the table's schema; None for the search path.
        blind_index_column: the column's blind-index column, recomputed under the active
            key; its values are checked first (each NULL or the index of its row's value).
        batch_size: rows per transaction (at least 1).
        keys: the column's own keys when its type has ``keys=``; None for the process-wide
            keyring (``HARDENING_KEYS`` or ``configure_keys``).
        context: the column's context when its type has ``context=`` (default: ``schema``,
            ``table`` and ``column``); the values and the blind index are bound to it alike.
        progress: called as ``progress(done, total)`` once the checks pass and after each
            batch (``hardening rotate`` draws its bar with it).
        max_passes: passes at most (at least 1); rows a writer keeps writing under an older
            key are left for a later run (``report.remaining``).
        column_type: the column's type as the application declares it (``User.ssn.type``,
            or a class such as ``EncryptedInteger``): AEAD values are moved to its form (its
            fixed-width form, padding and ``bind_row``), under its context and keys when it
            has them. None keeps each value's form. Needed with ``blind_index_column`` for an
            AEAD column: the index hashes the canonical form of its values, which only the
            type knows.

    Returns a ``RotationReport``. Raises ``RotationError`` when the column cannot be rotated
    (no such table or column, not bytea, no one-column primary key, not the kit's
    envelopes, a blind index not named or named without the AEAD column's type),
    ``RotationStopped`` when a row stops the run (with ``.report`` of what was committed),
    ``ValueError`` for ``batch_size`` or ``max_passes`` below 1.

    Example::

        # HARDENING_KEYS="k2:...,k1:..." (k2 prepended)
        report = rotate(engine, "users", "ssn", blind_index_column="ssn_bidx",
                        column_type=User.ssn.type)
        print(f"{report.rotated} values moved to {report.key_id}; {report.remaining} left")
    """
    at_least_one("batch_size", batch_size)
    at_least_one("max_passes", max_passes)
    keys = sealed(keys)  # a spec string prints as '[REDACTED]' (traceback locals)
    engine = bind if isinstance(bind, Engine) else create_engine(bind)
    try:
        with engine.connect() as conn:
            plan = inspect_column(
                conn,
                table,
                column,
                schema=schema,
                blind_index=blind_index_column,
                error=RotationError,
            )
            where = ColumnContext.of(context) if context else ColumnContext(schema, table, column)
            found, keep_form = _column_type(conn, plan, where, keys, column_type)
            _check_blind_index(conn, plan, found, keep_form)
        return _Rotation(engine, plan, found, keep_form).run(batch_size, max_passes, progress)
    finally:
        if engine is not bind:
            engine.dispose()


class _Rotation:
    """One run of ``rotate`` over a checked column (no I/O here)."""

    def __init__(
        self, engine: Engine, plan: ColumnPlan, column_type: EncryptedBase[Any], keep_form: bool
    ) -> None:
        self.engine = engine
        self.report: RotationReport | None = None  # None until the checks pass
        self.stale: Any = None  # the rows not under the active key, once it is read
        self.rewriter = ColumnRewriter(
            plan,
            column_type,
            Direction.ROTATE,
            lambda m: RotationStopped(m, self.report),
            keep_form=keep_form,
        )

    def run(self, batch_size: int, max_passes: int, progress: Progress | None) -> RotationReport:
        rewriter, state = self.rewriter, WalkState()
        self.stale = _stale(rewriter)  # reads the keys
        rewriter.check(self.engine.connect, state, [self.stale], SAMPLE_ROWS)
        if rewriter.index:
            indexed = rewriter.table.c[rewriter.index].is_not(None)
            rewriter.check(self.engine.connect, state, [self.stale, indexed], SAMPLE_ROWS)
        plan = rewriter.plan
        report = self.report = RotationReport(
            plan.table, plan.column, rewriter.cipher.keyring().active.id
        )
        todo = self.count()
        if progress:
            progress(0, todo)
        while todo and report.passes < max_passes:
            report.passes += 1
            before = state.changed
            rewriter.walk(
                self.engine.begin,
                state,
                batch_size=batch_size,
                where=[self.stale],
                on_batch=_reporter(state, report, progress, todo),
                read=self.engine.connect,
            )
            todo = self.count()
            if state.changed == before:
                break
        report.remaining = todo
        return report

    def count(self) -> int:
        """Values not under the active key."""
        query = select(func.count()).select_from(self.rewriter.table).where(self.stale)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _reporter(
    state: WalkState, report: RotationReport, progress: Progress | None, total: int
) -> Callable[[], None]:
    """What is called after each batch: the report follows the state, and ``progress``."""

    def tell() -> None:
        report.rotated, report.skipped_concurrent = state.changed, state.skipped
        if progress:
            progress(state.changed, max(total, state.changed))

    return tell


def _current(rewriter: ColumnRewriter) -> list[bytes]:
    """The headers of values in the current form under the active key: the rest move."""
    if rewriter.pgp:
        versions = [PGP_V2]
    elif rewriter.keep_form:
        versions = [AEAD_V2, AEAD_ROW]
    else:
        versions = [AEAD_ROW if rewriter.bind_row else AEAD_V2]
    return [rewriter.cipher.active_header(v) for v in versions]  # reads the keys


def _stale(rewriter: ColumnRewriter) -> Any:
    """The rows to move: a value not in the current form under the active key (``_current``),
    or (with a blind index) an index not made by the active key for this column (NULL,
    format 1, another key)."""
    raw = rewriter.raw
    heads = _current(rewriter)
    stale = and_(
        raw.is_not(None),
        func.substr(raw, 1, len(heads[0])).not_in([type_coerce(h, LargeBinary) for h in heads]),
    )
    if not rewriter.index:
        return stale
    index = rewriter.table.c[rewriter.index]
    prefix = rewriter.cipher.index_keys().prefixes[0]
    old_index = or_(
        index.is_(None),
        func.length(index) != len(prefix) + MAC_BYTES,
        func.substr(index, 1, len(prefix)) != prefix,
    )
    return or_(stale, and_(raw.is_not(None), old_index))


def _column_type(
    conn: Connection,
    plan: ColumnPlan,
    where: ColumnContext,
    keys: KeyHook | KeySource | None,
    given: TypeEngine[Any] | type[EncryptedBase[Any]] | None,
) -> tuple[EncryptedBase[Any], bool]:
    """The type that rewrites the column, and whether each value keeps its form. Given the
    application's type, that one (bound to ``where`` unless it has a context). Otherwise, from
    the first value: ``EncryptedBytes`` keeping each value's form for AEAD envelopes; for
    pgcrypto ones ``PGPText`` when the messages are text packets, else ``PGPBytes`` (their SQL
    differs), found by decrypting the first row."""
    table = plan.model()
    stored = table.c[plan.column]
    first = conn.execute(
        select(func.get_byte(stored, 0)).where(stored.is_not(None)).limit(1)
    ).scalar()
    if first is not None and first not in AEAD_VERSIONS | PGP_VERSIONS:
        # No byte of the value in the message: it may be the first byte of a plaintext.
        raise RotationError(
            f"{plan.name} does not hold the kit's envelopes (a value is neither an AEAD "
            "nor a pgcrypto one): a plaintext column is converted with op.encrypt_column, "
            "not rotated"
        )
    if given is not None:
        return _given_type(plan, where, keys, given, first), False
    if first is None or first in AEAD_VERSIONS:
        return EncryptedBytes(context=where, keys=keys), True
    error: Exception | None = None
    candidates: list[PGPType[Any]] = [
        PGPText(context=where, keys=keys),
        PGPBytes(context=where, keys=keys),
    ]
    for candidate in candidates:
        typed = plan.model(candidate)
        query = (
            select(
                typed.c[plan.key],
                type_coerce(typed.c[plan.column], LargeBinary),
                typed.c[plan.column],
            )
            .where(typed.c[plan.column].is_not(None))
            .order_by(typed.c[plan.key])
            .limit(1)
        )
        try:
            with conn.begin_nested():
                pk, raw, _ = conn.execute(query).one()
        except UNREADABLE as exc:
            error = exc
            continue
        return candidate, False
    # Neither reads the first row: that row stops the run (read without decrypting).
    rewriter = ColumnRewriter(
        plan, candidates[-1], Direction.ROTATE, lambda m: RotationStopped(m, None)
    )
    pk, raw = conn.execute(
        select(table.c[plan.key], stored)
        .where(stored.is_not(None))
        .order_by(table.c[plan.key])
        .limit(1)
    ).one()
    raise rewriter.unreadable(WalkState(), pk, bytes(raw), error)


def _given_type(
    plan: ColumnPlan,
    where: ColumnContext,
    keys: KeyHook | KeySource | None,
    given: TypeEngine[Any] | type[EncryptedBase[Any]],
    first: int | None,
) -> EncryptedBase[Any]:
    """The application's type, bound to the column (its own context and keys when it has
    them), after checking it is of the family the column holds."""
    if isinstance(given, type) and issubclass(given, EncryptedBase):
        given = given(context=where, keys=keys)
    elif isinstance(given, EncryptedBase) and given.cipher.column is None:
        given = given.copy()
        given.cipher = given._new_cipher(where)
    pgp = first in PGP_VERSIONS
    if (
        isinstance(given, EncryptedBase)
        and pgp == given.decrypted_in_sql
        and (pgp or isinstance(given, EncryptedType))
    ):
        return given
    family = "pgcrypto" if pgp else "AEAD"
    name = given.__name__ if isinstance(given, type) else type(given).__name__
    raise RotationError(
        f"{plan.name} holds {family} envelopes, which {name} does not read: give the type the "
        "model declares for the column"
    )


def _check_blind_index(
    conn: Connection, plan: ColumnPlan, column_type: EncryptedBase[Any], untyped: bool
) -> None:
    """Refuse to rotate an AEAD column's blind index without its type (``untyped``: rotate
    was given none), and a column without its blind index when another ``bytea`` column of
    the table holds it."""
    fix = f"--blind-index {{}} --type <the type the model declares for {plan.column}>"
    if plan.blind_index is not None:
        if untyped and not column_type.decrypted_in_sql:
            raise RotationError(
                f"{plan.name}: its blind index hashes the canonical form of its values, which "
                "only the column's type knows; give it: " + fix.format(plan.blind_index)
            )
        return
    found = find_blind_indexes(conn, plan, column_type)
    if found:
        holds = ", ".join(repr(name) for name in found)
        raise RotationError(
            f"{plan.name} has a blind index in {holds} (its values are the blind index of "
            f"{plan.column}); rotating without it would leave it under the old key, and "
            "lookups would fail once that key is removed. Fix: run rotate again with "
            + fix.format(found[0])
        )


def _starting_with(column: ColumnElement[Any], prefix: bytes) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, as a range a btree index on it serves."""
    end = prefix_end(prefix)
    return column >= prefix if end is None else and_(column >= prefix, column < end)


def find_blind_indexes(
    conn: Connection, plan: ColumnPlan, column_type: EncryptedBase[Any]
) -> list[str]:
    """The other ``bytea`` columns of the table that hold the blind index of ``plan``'s
    column: a format-2 value of this column under a keyring key (its prefix, anywhere in the
    table), or a format-1 value that is the index of its row's value (in the first
    ``SAMPLE_ROWS`` rows with a value).

    Args:
        conn: where to look.
        plan: the column, from ``inspect_column``.
        column_type: its type, with its context and keys.

    Example::

        find_blind_indexes(conn, plan, EncryptedText(context="users.ssn"))   # ['ssn_bidx']
    """
    others = [
        name
        for name, type_ in plan.types.items()
        if isinstance(type_, LargeBinary) and name not in (plan.column, plan.key)
    ]
    if not others:
        return []
    keys = column_type.cipher.index_keys()
    pgp = column_type.decrypted_in_sql
    table = Table(
        plan.table,
        MetaData(),
        Column(plan.key, plan.types[plan.key], primary_key=True),
        Column(plan.column, column_type if pgp else LargeBinary),
        *(Column(name, LargeBinary) for name in others),
        schema=plan.schema,
    )
    found = []
    for name in others:
        index = table.c[name]
        made_here = or_(*(_starting_with(index, p) for p in keys.prefixes))
        if conn.execute(select(index).where(made_here).limit(1)).first() is not None:
            found.append(name)
    value = table.c[plan.column]
    query = select(value, *(table.c[name] for name in others)).where(value.is_not(None))
    try:
        with conn.begin_nested():
            rows = conn.execute(query.order_by(table.c[plan.key]).limit(SAMPLE_ROWS)).all()
    except UNREADABLE:
        return found  # a row that does not decrypt stops the run at its checks
    for row in rows:
        try:
            plain = row[0].encode() if isinstance(row[0], str) else bytes(row[0])
            if not pgp:
                plain = column_type.cipher.decrypt(plain)
        except UNREADABLE:
            continue
        for name, stored in zip(others, row[1:], strict=True):
            if stored is not None and name not in found and keys.holds_legacy(stored, plain):
                found.append(name)
    return found
