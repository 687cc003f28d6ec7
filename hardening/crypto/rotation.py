"""Key rotation: re-encrypt every value of a column that is not under the active key.

``rotate(engine, "users", "ssn")`` (or ``hardening rotate --url ... --table users --column ssn``)
walks the table in primary-key order in batches of ``batch_size``, one short transaction per
batch with its rows locked ``FOR UPDATE``, and only reads rows whose envelope header is not
the active key's, so a second run, or a run after an interruption, continues where the last
one stopped and a finished column costs one index-less scan. Each row is written back with a
compare-and-set on its old ciphertext: a row another connection changed meanwhile is left
alone (it holds what that writer wrote) and is picked up by the next pass. Passes repeat
until no row is left or a pass makes no progress. The walk is the one column rewriter of
``hardening.crypto.rewriter``, which ``op.encrypt_column`` uses as well.

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

from hardening.crypto.aead import EncryptedBytes
from hardening.crypto.base import EncryptedBase
from hardening.crypto.envelope import AEAD_V1, PGP_V1
from hardening.crypto.index_format import MAC_BYTES
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
    context: str | None = None,
    column_type: type[EncryptedBase[Any]] | None = None,
    progress: Progress | None = None,
    max_passes: int = 5,
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
        context: the column's context when its type has ``context=`` (default
            ``table.column``; the blind index is bound to ``schema``, ``table`` and
            ``column`` unless it is given, as ``[schema.]table.column``).
        column_type: the type the model declares for the column (``EncryptedText``...);
            needed with ``blind_index_column`` for an AEAD column; None reads an AEAD
            column as bytes and finds a pgcrypto column's flavour.
        progress: called as ``progress(done, total)`` once the checks pass and after each
            batch (``hardening rotate`` draws its bar with it).
        max_passes: passes at most (at least 1); rows a writer keeps writing under an older
            key are left for a later run (``report.remaining``).

    Returns a ``RotationReport``. Raises ``RotationError`` when the column cannot be rotated
    (no such table or column, not bytea, no one-column primary key, not the kit's
    envelopes, a blind index not named or named without the AEAD column's type),
    ``RotationStopped`` when a row stops the run (with ``.report`` of what was committed),
    ``ValueError`` for ``batch_size`` or ``max_passes`` below 1.

    Example::

        # HARDENING_KEYS="k2:...,k1:..." (k2 prepended)
        report = rotate(engine, "users", "ssn", blind_index_column="ssn_bidx",
                        column_type=EncryptedText)
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
            found = _column_type(conn, plan, context or f"{table}.{column}", keys, column_type)
            if context is None:
                found.cipher.index_context = (schema or "", table, column)
            _check_blind_index(conn, plan, found, column_type)
        return _Rotation(engine, plan, found).run(batch_size, max_passes, progress)
    finally:
        if engine is not bind:
            engine.dispose()


class _Rotation:
    """One run of ``rotate`` over a checked column (no I/O here)."""

    def __init__(self, engine: Engine, plan: ColumnPlan, column_type: EncryptedBase[Any]) -> None:
        self.engine = engine
        self.report: RotationReport | None = None  # None until the checks pass
        self.stale: Any = None  # the rows not under the active key, once it is read
        self.rewriter = ColumnRewriter(
            plan, column_type, Direction.ROTATE, lambda m: RotationStopped(m, self.report)
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
                lock=True,
                on_batch=_reporter(state, report, progress, todo),
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


def _stale(rewriter: ColumnRewriter) -> Any:
    """The rows to move: a value not under the active key, or (with a blind index) an index
    not made by it for this column (NULL, format 1, another key)."""
    raw = rewriter.raw
    head = rewriter.cipher.active_header(rewriter.kind)
    stale = and_(raw.is_not(None), func.substr(raw, 1, len(head)) != head)
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
    context: str,
    keys: KeyHook | KeySource | None,
    given: type[EncryptedBase[Any]] | None,
) -> EncryptedBase[Any]:
    """The type that wrote the column: ``given`` if its family matches the first value's;
    otherwise ``EncryptedBytes`` for AEAD envelopes, and for pgcrypto ones ``PGPText`` when
    the messages are text packets, else ``PGPBytes`` (their SQL differs), found by
    decrypting the first row."""
    table = plan.model()
    stored = table.c[plan.column]
    first = conn.execute(
        select(func.get_byte(stored, 0)).where(stored.is_not(None)).limit(1)
    ).scalar()
    if first not in (None, AEAD_V1, PGP_V1):
        # No byte of the value in the message: it may be the first byte of a plaintext.
        raise RotationError(
            f"{plan.name} does not hold the kit's envelopes (a value is neither an AEAD "
            "nor a pgcrypto one): a plaintext column is converted with op.encrypt_column, "
            "not rotated"
        )
    if given is not None:
        if first is not None and given.decrypted_in_sql != (first == PGP_V1):
            family = "pgcrypto" if first == PGP_V1 else "AEAD"
            raise RotationError(
                f"{plan.name} holds {family} envelopes, which {given.__name__} does not read: "
                "give the type the model declares for the column"
            )
        return given(context=context, keys=keys)
    if first in (None, AEAD_V1):
        return EncryptedBytes(context=context, keys=keys)
    error: Exception | None = None
    candidates: list[PGPType[Any]] = [
        PGPText(context=context, keys=keys),
        PGPBytes(context=context, keys=keys),
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
        return candidate
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


def _check_blind_index(
    conn: Connection,
    plan: ColumnPlan,
    column_type: EncryptedBase[Any],
    given: type[EncryptedBase[Any]] | None,
) -> None:
    """Refuse to rotate an AEAD column's blind index without its type, and a column without
    its blind index when another ``bytea`` column of the table holds it."""
    fix = f"--blind-index {{}} --type <the type the model declares for {plan.column}>"
    if plan.blind_index is not None:
        if given is None and not column_type.decrypted_in_sql:
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
        made_here = or_(
            *(and_(index >= p, index < p[:-1] + bytes((p[-1] + 1,))) for p in keys.prefixes)
        )
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
