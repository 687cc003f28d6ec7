"""Blind indexes: an HMAC-SHA256 of a value kept in its own indexed column, for equality lookups.

The HMAC key is derived for this one purpose from each keyring key with HKDF
(info ``blind-index/v1/<table.column>``, ``hardening.crypto.cipher``), so it differs per
column and per key and is never the encryption key. What it reveals: which rows hold *equal*
values of the column (and, to someone who can compute HMACs, nothing else; without the key,
not the values). A low-entropy column (a yes/no flag, a birth year) can still be guessed by
frequency: index only columns whose values are rare (emails, SSNs, tokens).

Declare it next to the encrypted column; it is filled automatically on insert (Core, ORM and
bulk inserts, through a column default) and on ORM attribute changes::

    class User(Base):
        ssn: Mapped[str] = mapped_column(EncryptedText())
        ssn_bidx: Mapped[bytes | None] = mapped_blind_index("ssn")

    select(User).where(User.ssn.blind_eq("123-45-6789"))
    # -> WHERE users.ssn_bidx IN (:h_k2, :h_k1): one HMAC per keyring key, so rows indexed
    #    under an older key still match while a rotation runs.

Every ``UPDATE`` that sets the encrypted column but not its index gets the index filled when
it runs (``fill_updates``, called by the engine hooks of ``hardening.crypto.hooks``): Core and
ORM ``update().values(...)``, ORM bulk UPDATE by primary key, ``bulk_update_mappings``, and
PostgreSQL ``INSERT .. ON CONFLICT DO UPDATE``. The value must be a value (or
``excluded.<column>`` for ON CONFLICT); an UPDATE that sets the column to a SQL expression
cannot have its index computed and raises ``BlindIndexError`` naming both columns. Setting
the index yourself also works: ``.values(ssn=v, ssn_bidx=users.c.ssn.blind_hash(v))``.

The ORM attribute hook is a ``mapper_configured`` listener on SQLAlchemy's ``Mapper``, added
the first time a blind index is declared (not on import); it acts only on mappers that have
a blind-index column.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    Table,
    and_,
    bindparam,
    event,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import MappedColumn, Mapper, mapped_column
from sqlalchemy.sql import dml
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Null
from sqlalchemy.sql.selectable import Alias

from hardening.crypto.envelope import MAX_KEY_ID
from hardening.crypto.index_format import INDEX_V2, MAC_BYTES, TAG_BYTES, prefix_end
from hardening.crypto.kit_column import adopt
from hardening.errors import BlindIndexError

__all__ = [
    "INFO_KEY",
    "blind_index_column",
    "fill_updates",
    "index_column_of",
    "mapped_blind_index",
    "stale_index_guard",
    "translate_error",
]

INFO_KEY = "hardening_blind_index_of"


class Indexable(Protocol):
    """What a column type offers a blind index (the encrypted types implement it)."""

    def blind_hash(self, value: Any) -> bytes | None: ...


def _default_for(source: str) -> Callable[[DefaultExecutionContext], bytes | None]:
    def fill(ctx: DefaultExecutionContext) -> bytes | None:
        params: dict[str, Any] = ctx.get_current_parameters()  # type: ignore[no-untyped-call]
        column = ctx.current_column
        table = column.table if column is not None else None
        if table is None or source not in table.c:
            name = column.key if column is not None else "a blind index"
            raise _no_source(name, source, table)
        src_type = cast(Indexable, table.c[source].type)
        return src_type.blind_hash(params.get(source))

    return fill


def _index_kw(source: str, kw: dict[str, Any]) -> dict[str, Any]:
    """The column arguments of a blind index of ``source`` (and the ORM hook, from now on)."""
    _watch_mappers()
    info = {**kw.pop("info", {}), INFO_KEY: source}
    return {"index": True, "nullable": True, **kw, "default": _default_for(source), "info": info}


def blind_index_column(source: str, name: str | None = None, **kw: Any) -> Column[bytes]:
    """A Core ``Column`` (``bytea``, indexed, nullable) holding the blind index of column
    ``source`` of the same table, filled on insert and kept in step on update.

    Args:
        source: the key of the encrypted column it indexes.
        name: the column's name (as the first argument of ``Column``); may be omitted
            when the column is given a name otherwise (``Table`` needs one).
        **kw: any other ``Column`` argument (``index=`` and ``nullable=`` default to True).

    Example::

        users = Table(
            "users", metadata,
            Column("id", Integer, primary_key=True),
            Column("ssn", EncryptedText()),
            blind_index_column("ssn", "ssn_bidx"),
        )
        select(users).where(users.c.ssn.blind_eq("123-45-6789"))
    """
    args: tuple[Any, ...] = (name, LargeBinary) if name else (LargeBinary,)
    column: Column[bytes] = Column(*args, **_index_kw(source, kw))
    adopt(column)  # a lookup that renders only the index puts the engine hooks on
    return column


def mapped_blind_index(source: str, name: str | None = None, **kw: Any) -> MappedColumn[Any]:
    """The ORM form of ``blind_index_column``; assigning the encrypted attribute updates it.

    Args:
        source: the attribute key of the encrypted column it indexes.
        name: the database column's name when it differs from the attribute's.
        **kw: any other ``mapped_column`` argument (``index=`` and ``nullable=`` default to
            True).

    Example::

        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            ssn: Mapped[str] = mapped_column(EncryptedText())
            ssn_bidx: Mapped[bytes | None] = mapped_blind_index("ssn")
    """
    args: tuple[Any, ...] = (name, LargeBinary) if name else (LargeBinary,)
    mapped = mapped_column(*args, **_index_kw(source, kw))
    adopt(mapped.column)  # a lookup that renders only the index puts the engine hooks on
    return mapped


def index_column_of(column: Any) -> Any:
    """The blind-index column declared for ``column`` in its table.

    Args:
        column: an encrypted column (Core column or ORM attribute's column).

    Raises ``BlindIndexError`` naming the fix when the table declares none.

    Example::

        index_column_of(users.c.ssn)    # users.c.ssn_bidx
    """
    table = getattr(column, "table", None)
    key = getattr(column, "key", None)
    if table is not None:
        for candidate in table.c:
            if candidate.info.get(INFO_KEY) == key:
                return candidate
    raise BlindIndexError(
        f"column {key!r} has no blind index: declare one with "
        f"mapped_blind_index({key!r}) or blind_index_column({key!r})"
    )


def _no_source(index: str, source: str, table: Any) -> BlindIndexError:
    where = f"table {table.name!r}" if table is not None else "its table"
    encrypted = [c.key for c in getattr(table, "c", ()) if hasattr(c.type, "blind_hash")]
    return BlindIndexError(
        f"blind index {index!r} is declared for column {source!r}, which {where} does not "
        f"have; its encrypted columns: {', '.join(map(repr, encrypted)) or 'none'}"
    )


# --------------------------------------------------------- ORM objects keep the index in step
_MAPPERS_WATCHED = threading.Lock()


def _watch_mappers() -> None:
    """Listen for mappers being configured, once, from the first blind index declared on."""
    with _MAPPERS_WATCHED:
        if not event.contains(Mapper, "mapper_configured", _wire_orm_updates):
            event.listen(Mapper, "mapper_configured", _wire_orm_updates)


def _wire_orm_updates(mapper: Mapper[Any], class_: type) -> None:
    """Keep ORM objects' blind indexes in step when the encrypted attribute is assigned."""
    for prop in mapper.column_attrs:
        for col in prop.columns:
            source_key = col.info.get(INFO_KEY) if hasattr(col, "info") else None
            if source_key is None:
                continue
            source_props = [
                p for p in mapper.column_attrs if any(c.key == source_key for c in p.columns)
            ]
            if not source_props:
                table = getattr(col, "table", None)
                if table is None or source_key not in table.c:
                    # a misspelt source: said when the mapper is configured, not at an INSERT
                    raise _no_source(col.key, source_key, table)
                continue
            source_col = next(c for c in source_props[0].columns if c.key == source_key)
            src_type = source_col.type
            if hasattr(src_type, "blind_hash"):
                _listen(getattr(class_, source_props[0].key), prop.key, cast(Indexable, src_type))


def _listen(attribute: Any, target_key: str, src_type: Indexable) -> None:
    def on_set(target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        setattr(target, target_key, src_type.blind_hash(value))
        return value

    event.listen(attribute, "set", on_set, retval=True)


# ------------------------------------------------------------------ UPDATEs keep the index
_Params = list[dict[str, Any]]


def fill_updates(stmt: Any, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, _Params] | None:
    """The statement and parameter rows to execute instead, with the blind index set wherever
    ``stmt`` (an UPDATE, or an INSERT .. ON CONFLICT DO UPDATE) sets an indexed encrypted
    column but not its index; None when there is nothing to add. Nothing is changed in place.

    Args:
        stmt: the statement being executed.
        rows: its parameter sets (none, one, or one per row of an executemany).

    Raises ``BlindIndexError`` naming both columns when the column is set to a SQL expression
    (its index cannot be computed) or with ``ordered_values()``.

    Example::

        stmt, rows = fill_updates(update(users).values(ssn="123-45-6789"), [])
        # stmt sets users.ssn_bidx to the HMAC of "123-45-6789" as well
    """
    if not isinstance(stmt, dml.Update | dml.Insert):
        return None
    pairs = _indexed_pairs(stmt.table)
    if not pairs:
        return None
    if isinstance(stmt, dml.Insert):
        filled = _fill_on_conflict(stmt, pairs)
        return None if filled is stmt else (filled, [dict(r) for r in rows])
    new_rows: _Params = [dict(r) for r in rows]
    values = _dml_values(stmt)
    keys_given = set(values) | (set(new_rows[0]) if new_rows else set())
    extra: dict[Any, Any] = {}
    changed = False
    for source, index in pairs:
        if index.key in keys_given:
            continue  # set by the application (or by the ORM's attribute event)
        src_type = cast(Indexable, source.type)
        if new_rows and source.key in new_rows[0]:
            for row in new_rows:
                row[index.key] = src_type.blind_hash(row[source.key])
            changed = True
        elif source.key in values:
            extra[index] = _index_value(values[source.key], new_rows, source, index)
    if extra:
        if stmt._maintain_values_ordering:  # ordered_values() allows no second .values()
            source = next(s for s, i in pairs if i in extra)
            raise _cannot_follow(source, next(iter(extra)), "ordered_values()")
        return stmt.values(extra), new_rows
    return (stmt, new_rows) if changed else None


def _index_value(value: Any, rows: _Params, source: Column[Any], index: Column[Any]) -> Any:
    """What the index is set to when the statement's ``.values()`` sets ``source`` to
    ``value``: NULL, a parameter filled per row, or the HMAC of a literal."""
    src_type = cast(Indexable, source.type)
    if isinstance(value, Null):
        return None
    if isinstance(value, BindParameter) and rows and value.key in rows[0]:
        name = f"hardening_bidx_{index.key}"
        for row in rows:
            row[name] = src_type.blind_hash(row[value.key])
        return bindparam(name, type_=LargeBinary())
    if isinstance(value, BindParameter) and value.callable is None:
        return bindparam(None, src_type.blind_hash(value.value), type_=LargeBinary(), unique=True)
    raise _cannot_follow(source, index, "a SQL expression")


def _indexed_pairs(table: Any) -> list[tuple[Column[Any], Column[Any]]]:
    """(encrypted column, its blind-index column) for every blind index of ``table``."""
    columns = getattr(table, "c", None)
    if columns is None:
        return []
    pairs = []
    for index in columns:
        source_key = getattr(index, "info", {}).get(INFO_KEY)
        if source_key is not None and source_key in columns:
            source = columns[source_key]
            if hasattr(source.type, "blind_hash"):
                pairs.append((source, index))
    return pairs


def _dml_values(stmt: Any) -> dict[str, Any]:
    """The SET values of an UPDATE by column key (``.values()`` or ``.ordered_values()``)."""
    items = (stmt._values or {}).items()
    return {k if isinstance(k, str) else getattr(k, "key", k): v for k, v in items}


def _fill_on_conflict(stmt: Any, pairs: list[tuple[Column[Any], Column[Any]]]) -> Any:
    post = getattr(stmt, "_post_values_clause", None)
    to_set = getattr(post, "update_values_to_set", None)
    if not to_set:
        return stmt
    given = {k if isinstance(k, str) else getattr(k, "key", k): v for k, v in to_set.items()}
    extra: dict[Any, Any] = {}
    for source, index in pairs:
        if source.key not in given or index.key in given:
            continue
        value = given[source.key]
        if _is_excluded(value, source):
            extra[index.key] = stmt.excluded[index.key]  # the INSERT's default computed it
        elif isinstance(value, Null):
            extra[index.key] = bindparam(None, None, type_=LargeBinary(), unique=True)
        elif isinstance(value, BindParameter) and value.callable is None:
            hashed = cast(Indexable, source.type).blind_hash(value.value)
            extra[index.key] = bindparam(None, hashed, type_=LargeBinary(), unique=True)
        else:
            raise _cannot_follow(source, index, "a SQL expression in ON CONFLICT DO UPDATE")
    if not extra:
        return stmt
    post = copy.copy(cast(Any, post))
    post.update_values_to_set = {**to_set, **extra}
    new = stmt._generate()
    new._post_values_clause = post
    return new


def _is_excluded(value: Any, source: Column[Any]) -> bool:
    table = getattr(value, "table", None)
    return (
        isinstance(table, Alias)
        and table.name == "excluded"
        and getattr(value, "key", None) == source.key
    )


def _cannot_follow(source: Column[Any], index: Column[Any], what: str) -> BlindIndexError:
    where = f"{source.table.name}.{source.key}" if source.table is not None else source.key
    return BlindIndexError(
        f"a statement sets the encrypted column {where} to {what}, so its blind index "
        f"{index.key!r} cannot be computed and would keep the old value; set both with "
        f".values({source.key}=value, {index.key}={source.key}_column.blind_hash(value))"
    )


# ------------------------------------------------------- lookups under a key that is gone
STALE_MARK = "pg-hardening: stale blind index "
_STALE = re.compile(
    re.escape(STALE_MARK) + r'(.+?)\|(.*?)\|(.+?)\|(.+?) key id ([A-Za-z0-9_.-]{1,64})"'
)
_FORMAT_2 = (bytes((INDEX_V2, 1)), bytes((INDEX_V2, MAX_KEY_ID + 1)))  # every key id's values


def stale_index_guard(
    index: ColumnElement[Any], heads: Sequence[bytes], source: str
) -> ColumnElement[bool]:
    """A condition that is true, or makes the statement fail with a message naming a key
    id, when ``index`` holds a format-2 value made by a key not in ``heads`` (the keyring's
    keys): a lookup could not match such a row, so it raises instead of finding nothing
    (``translate_error`` names it as ``BlindIndexError``). One index probe per gap between
    the keyring's keys; PostgreSQL evaluates it once per statement, before any row.

    Args:
        index: the blind-index column (of a table, an alias or an ORM entity).
        heads: ``index_format.index_head`` of each keyring key.
        source: ``table.column`` of the encrypted column, for the message.

    Example::

        select(users.c.id).where(users.c.ssn_bidx.in_(hashes),
                                 stale_index_guard(users.c.ssn_bidx, heads, "users.ssn"))
    """
    base = _table_column(index)
    other = base.table.alias().c[base.key]
    bounds = [_FORMAT_2[0]]
    for head in sorted(heads):
        bounds += [head, prefix_end(head) or _FORMAT_2[1]]  # the values under that key
    bounds.append(_FORMAT_2[1])
    gaps = [
        and_(other >= literal(lo, LargeBinary), other < literal(hi, LargeBinary))
        for lo, hi in zip(bounds[::2], bounds[1::2], strict=True)
        if lo < hi
    ]
    n = func.get_byte(other, 1)
    kid = func.encode(func.substr(other, 3, n), literal_column("'escape'"))
    where = f"{source}|{base.table.schema or ''}|{base.table.name}|{base.key}"
    message = literal(f"{STALE_MARK}{where} key id ").op("||")(kid)
    found = (
        select(message.cast(Integer))
        .where(
            or_(*gaps),
            func.length(other) == n + (2 + TAG_BYTES + MAC_BYTES),
            kid.op("~")(literal_column("'^[A-Za-z0-9_.-]+$'")),
        )
        .limit(1)
        .correlate(None)
        .scalar_subquery()
    )
    return found.is_(None)


def _table_column(column: Any) -> Column[Any]:
    """The ``Table`` column behind ``column`` (an ORM attribute's, an alias's)."""
    for candidate in getattr(column, "proxy_set", (column,)):
        plain = candidate._deannotate()
        if isinstance(getattr(plain, "table", None), Table):
            return cast(Column[Any], plain)
    raise BlindIndexError(f"{column!r} is not a column of a table; look it up in its table")


def translate_error(ctx: ExceptionContext) -> None:
    """Turn the failure ``stale_index_guard`` causes into ``BlindIndexError`` naming the
    columns, the key id and the fix; any other error is left alone.

    Args:
        ctx: SQLAlchemy's ``ExceptionContext`` (the engine hooks' ``handle_error``).

    Example::

        event.listen(engine.dialect, "handle_error", translate_error)
    """
    found = _STALE.search(str(ctx.original_exception))
    if found is None:
        return
    source, schema, table, index, key_id = found.groups()
    column = source.rsplit(".", 1)[-1]
    where, in_schema = (f"{schema}.{table}", f" --schema {schema}") if schema else (table, "")
    raise BlindIndexError(
        f"a lookup of {source} through its blind index {where}.{index} cannot find every row: "
        f"some index values were made by key {key_id!r}, which the keyring no longer holds. "
        f"Fix: add {key_id!r} back to HARDENING_KEYS after the active key, run hardening "
        f"rotate --table {table}{in_schema} --column {column} --blind-index {index} "
        "--type <its type>, then remove it"
    )
