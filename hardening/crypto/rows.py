"""Row binding (``EncryptedText(bind_row=True)``): each value bound to its row's primary key.

A value of a row-bound column is written in AEAD format 4, whose associated data ends with
the row's key, length-prefixed: the primary key's binary form, as PostgreSQL sends it (an
integer's 8 bytes, big-endian, ``int8send``; a UUID's 16, ``uuid_send``) or a text key's
UTF-8. A value moved or copied to another row of the column, or put back
into its row after the row's key changed, fails authentication (``DecryptionError``), as
CipherSweet's AAD source field and pgsodium's ``ASSOCIATED`` columns do.

What it needs, and what is refused with ``RowBindingError`` naming the column and the fix:

* **A one-column primary key** of an integer, text/varchar or UUID type (their forms are the
  same in Python and in PostgreSQL). Checked when the column's first statement runs.
* **The key before the INSERT.** The engine hooks (``hardening.crypto.hooks``) bind each
  value when the statement runs, after SQLAlchemy has computed client-side defaults: give the
  key, or a client-side default (``default=uuid.uuid4``, a Python callable). A key the server
  makes (``serial``, ``identity``, a server default) is not known then, and the INSERT is
  refused. ``executemany`` and ORM flushes work row by row; a multi-row
  ``insert().values([...])`` too.
* **UPDATEs that select one row by its primary key** (``WHERE id = :value``, what the ORM
  and ``session.execute(update(Model), [...])`` emit, and ``update(t).where(t.c.id == 5)``).
  Any other UPDATE that sets the column is refused: one value cannot be bound to many rows.
  ``INSERT .. ON CONFLICT DO UPDATE`` may set it only when the conflict target is the
  primary key.
* **SELECTs read the key with the value.** The type's column expression makes the SELECT
  return ``a marker byte | the row's key, length-prefixed | the envelope``, computed by
  PostgreSQL from the same row, so the application changes no query. A column read from a
  subquery needs the subquery to select the primary key as well; otherwise the compile is
  refused.
* **The key never changes.** A row whose primary key is updated keeps values bound to the old
  key: they stop decrypting. Re-write them through the type after such a change.

``rotate`` and ``op.encrypt_column`` read the key of every row they rewrite, so they bind
values to their rows themselves (``ColumnRewriter``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, cast, func, literal_column, type_coerce
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnElement,
)
from sqlalchemy.types import CHAR, Enum, Integer, String, TypeEngine, Uuid

from hardening.errors import ColumnOptionError, RowBindingError

__all__ = [
    "KEY_ENDS",
    "RowValue",
    "bind_rows",
    "key_kind",
    "row_key",
    "select_expression",
    "split",
]

_HEX: ColumnElement[str] = literal_column("'hex'")


def key_kind(pk_type: TypeEngine[Any], where: str) -> str:
    """``"int"``, ``"uuid"`` or ``"text"``: how a primary key of ``pk_type`` becomes a row key;
    ``ColumnOptionError`` naming ``where`` for any other type.

    Args:
        pk_type: the primary key column's type.
        where: the row-bound column, for the message.

    Example::

        key_kind(Integer(), "users.ssn")    # 'int'
    """
    if isinstance(pk_type, Integer):
        return "int"
    if isinstance(pk_type, Uuid):
        return "uuid"
    if isinstance(pk_type, String) and not isinstance(pk_type, CHAR | Enum):
        return "text"
    raise ColumnOptionError(
        f"{where} is bound to its row (bind_row=True), but its table's primary key is of type "
        f"{pk_type}: row binding needs an integer, text/varchar or UUID primary key"
    )


def row_key(value: Any, kind: str) -> bytes:
    """The row key of a primary key ``value``, as PostgreSQL sends the key in binary: an
    integer's 8 bytes (big-endian, two's complement), a UUID's 16, a text's UTF-8.
    ``TypeError`` / ``ValueError`` (or ``OverflowError``) for a value that is not of ``kind``.

    Args:
        value: the primary key's value.
        kind: from ``key_kind``.

    Example::

        row_key(42, "int")    # b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00*"
    """
    if kind == "int":
        if isinstance(value, bool):
            raise TypeError
        return int(value).to_bytes(8, "big", signed=True)
    if kind == "uuid":
        return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes
    if not isinstance(value, str):
        raise TypeError
    return value.encode()


def primary_key(table: Any, where: str) -> tuple[Any, str]:
    """``(column, kind)`` of ``table``'s one-column primary key (``table`` may be a Table,
    an alias or a subquery); ``ColumnOptionError`` / ``RowBindingError`` otherwise.

    Args:
        table: where the row-bound column is selected from or written to.
        where: the row-bound column, for the message.

    Example::

        pk, kind = primary_key(users, "users.ssn")
    """
    keys = list(getattr(table, "primary_key", None) or ())
    if len(keys) == 1:
        return keys[0], key_kind(keys[0].type, where)
    if len(keys) > 1:
        raise ColumnOptionError(
            f"{where} is bound to its row (bind_row=True), but its table's primary key has "
            f"{len(keys)} columns: row binding needs a one-column primary key"
        )
    raise RowBindingError(
        f"{where} is bound to its row (bind_row=True) and is selected from "
        f"{getattr(table, 'name', None) or 'a subquery'} without its table's primary key, so "
        "its rows cannot be known; select the primary key in the subquery too, or select the "
        "column from its table"
    )


# The byte a row-bound SELECT starts with, by the key's kind (no envelope starts with one).
_MARKS = {"int": 0xFE, "uuid": 0xFD, "text": 0xFF}
_FIXED = {0xFE: 8, 0xFD: 16}  # bytes of a fixed-width key
# Where the envelope starts after a fixed-width key: mark, "8:" or "16:", the key.
KEY_ENDS = {mark: 1 + len(b"%d:" % width) + width for mark, width in _FIXED.items()}


def select_expression(column: ColumnElement[Any], type_: TypeEngine[Any], where: str) -> Any:
    """What a SELECT of a row-bound column returns: ``mark | netstring(key) | envelope``
    (NULL for a NULL value), typed ``type_`` so its result processor reads it. The mark says
    the key's kind (``0xFE`` an integer, ``0xFD`` a UUID, ``0xFF`` a text key); the key is
    ``row_key``'s form, length-prefixed as the associated data ends.

    Args:
        column: the column as selected (of its table, an alias or a subquery).
        type_: the column's type.
        where: the column, for the messages.

    Example::

        def column_expression(self, column):
            return select_expression(column, self, "users.ssn")
    """
    pk, kind = primary_key(getattr(column, "table", None), where)
    key: Any
    if kind == "text":
        key = func.convert_to(
            func.concat(func.octet_length(pk), literal_column("':'"), pk),
            literal_column("'UTF8'"),
            type_=LargeBinary,
        )
        head = func.decode(literal_column("'ff'"), _HEX, type_=LargeBinary)
    else:
        width = _FIXED[_MARKS[kind]]
        send = func.int8send(cast(pk, BigInteger)) if kind == "int" else func.uuid_send(pk)
        key = type_coerce(send, LargeBinary)
        prefix = bytes((_MARKS[kind],)) + b"%d:" % width
        head = func.decode(literal_column(f"'{prefix.hex()}'"), _HEX, type_=LargeBinary)
    parts = [head, key, type_coerce(column, LargeBinary)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||", return_type=LargeBinary)(part)
    return type_coerce(joined, type_)


def split(value: bytes, where: str) -> tuple[bytes, bytes, bytes]:
    """``(netstring(row key), row key, envelope)`` of what a row-bound column's SELECT
    returned; ``RowBindingError`` when it holds no row key (the column was read without its
    column expression, e.g. from a subquery's raw column or by plain SQL).

    Args:
        value: the fetched bytes.
        where: the column, for the message.

    Example::

        suffix, row, envelope = split(fetched, "users.ssn")
    """
    mark = value[0]
    width = _FIXED.get(mark)
    try:
        colon = value.index(58, 1, 8)  # b":" after the key's length
        size = int(value[1:colon])
    except ValueError:
        size = -1
    if (width is None and mark != 0xFF) or size < 0 or (width is not None and size != width):
        raise RowBindingError(
            f"a value of {where} (bind_row=True) was read without its row's key; read the "
            "column through its type in a SELECT of its table (or of a subquery that selects "
            "the primary key too)"
        )
    end = colon + 1 + size
    return value[1:end], value[colon + 1 : end], value[end:]


class RowValue:
    """A value of a row-bound column with its row's key, as the engine hooks hand it to the
    column's bind processor.

    Args:
        value: the application's value.
        row: the row's key (``row_key``).

    Example::

        RowValue("123-45-6789", b"42")
    """

    __slots__ = ("row", "value")

    def __init__(self, value: Any, row: bytes) -> None:
        self.value = value
        self.row = row

    def __repr__(self) -> str:
        return "RowValue([REDACTED])"


# --------------------------------------------------------------- statements bind their rows
_Plan = tuple[list[tuple[str, str]], str, str, str]  # (value key, pk key) pairs, kind, names


def bind_rows(context: Any) -> None:
    """Wrap each value of a row-bound column in the parameters of an INSERT or UPDATE being
    executed in a ``RowValue`` with its row's key (called by the engine hooks after
    SQLAlchemy computed the defaults, before the bind processors run).

    Args:
        context: SQLAlchemy's execution context of the statement.

    Raises ``RowBindingError`` naming the column and the fix when a row's key is not known.

    Example::

        bind_rows(self)    # in the execution context, before parameters are processed
    """
    compiled = context.compiled
    plan = compiled.__dict__.get("_hardening_rows")
    if plan is None:
        plan = compiled.__dict__["_hardening_rows"] = _plan(compiled)
    pairs, kind, column, problem = plan
    if not pairs:
        return
    for params in context.compiled_parameters:
        for name, pk_name in pairs:
            value = params.get(name)
            if value is None or type(value) is RowValue:
                continue
            if problem:
                raise RowBindingError(problem)
            key = params.get(pk_name)
            try:
                row = row_key(key, kind) if key is not None else None
            except (TypeError, ValueError):
                row = None
            if row is None:
                raise RowBindingError(_no_key(column, pk_name, key is None))
            params[name] = RowValue(value, row)


def _no_key(column: str, pk: str, missing: bool) -> str:
    if missing:
        return (
            f"{column} is bound to its row (bind_row=True), but the INSERT gives no primary key "
            "for a row: the key must be known before the INSERT. Give it, or declare a "
            "client-side default (default=uuid.uuid4, a Python callable); a key the server "
            "makes (serial, identity) is known only after the INSERT"
        )
    return (
        f"{column} is bound to its row (bind_row=True), but a row's primary key ({pk}) is "
        "not of the type its column declares"
    )


def _plan(compiled: Any) -> _Plan:
    """Which parameters of ``compiled`` (an INSERT or UPDATE) hold row-bound values, and which
    parameter holds each one's row key."""
    statement = compiled.compile_state.statement
    table = getattr(statement, "table", None)
    bound = [c for c in getattr(table, "c", ()) if getattr(c.type, "bind_row", False)]
    binds = compiled.binds
    if not bound:
        return [], "", "", ""
    where = bound[0].type.cipher.name
    pk, kind = primary_key(table, where)
    key_of = compiled._within_exec_param_key_getter
    names = [key_of(c) for c in bound if key_of(c) in binds]
    if compiled.isinsert:
        pairs = [(name, key_of(pk)) for name in names]
        for c in bound:  # insert().values([row, row, ...]): <key>_m<i> for row i
            pattern = re.compile(re.escape(c.key) + r"_m(\d+)")
            for name in binds:
                found = pattern.fullmatch(name)
                if found:
                    pairs.append((name, f"{pk.key}_m{found.group(1)}"))
        _check_on_conflict(statement, bound, pk, where)
        return pairs, kind, where, ""
    pk_bind = _pk_bind(statement, pk, compiled)
    if pk_bind is None:
        problem = (
            f"{where} is bound to its row (bind_row=True), but an UPDATE sets it without "
            f"selecting one row by its primary key; update it with WHERE {pk.key} = :value "
            "(what the ORM does), one row at a time"
        )
        return [(name, "") for name in names], kind, where, problem
    return [(name, pk_bind) for name in names], kind, where, ""


def _pk_bind(statement: Any, pk: Any, compiled: Any) -> str | None:
    """The name of the parameter an UPDATE's WHERE compares the primary key with."""
    terms = list(getattr(statement, "_where_criteria", ()))
    while terms:
        term = terms.pop()
        if isinstance(term, BooleanClauseList) and term.operator is operators.and_:
            terms.extend(term.clauses)
            continue
        if not isinstance(term, BinaryExpression) or term.operator is not operators.eq:
            continue
        for side, other in ((term.left, term.right), (term.right, term.left)):
            if _same(side, pk) and isinstance(other, BindParameter):
                name: str | None = compiled.bind_names.get(other)
                return name
    return None


def _same(column: Any, pk: Any) -> bool:
    plain = column._deannotate() if hasattr(column, "_deannotate") else column
    return plain is pk or (
        getattr(plain, "table", None) is pk.table and getattr(plain, "key", None) == pk.key
    )


def _check_on_conflict(statement: Any, bound: list[Any], pk: Any, where: str) -> None:
    """``ON CONFLICT DO UPDATE`` may set a row-bound column only when it conflicts on the
    primary key: the row it updates then has the key the INSERT's value was bound to."""
    post = getattr(statement, "_post_values_clause", None)
    to_set = getattr(post, "update_values_to_set", None)
    if not to_set:
        return
    keys = {k if isinstance(k, str) else getattr(k, "key", k) for k in to_set}
    if not keys & {c.key for c in bound}:
        return
    target = [
        t if isinstance(t, str) else getattr(t, "key", None)
        for t in getattr(post, "inferred_target_elements", None) or ()
    ]
    if target != [pk.key]:
        raise RowBindingError(
            f"{where} is bound to its row (bind_row=True), but an INSERT .. ON CONFLICT DO "
            f"UPDATE sets it on a conflict over {target or 'a constraint'}: the row it updates "
            f"may have another key than the one the value was bound to; conflict on the "
            f"primary key (index_elements=[{pk.key!r}]) or update that row by its key"
        )
