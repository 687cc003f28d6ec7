"""Blind indexes: an HMAC-SHA256 of a value kept in its own indexed column, for equality lookups.

The HMAC key is derived for this one purpose from each keyring key with HKDF
(info ``blind-index/v1/<table.column>``), so it differs per column and per key and is never
the encryption key. What it reveals: which rows hold *equal* values of the column (and, to
someone who can compute HMACs, nothing else; without the key, not the values). A low-entropy
column (a yes/no flag, a birth year) can still be guessed by frequency: index only columns
whose values are rare (emails, SSNs, tokens).

Declare it next to the encrypted column; it is filled automatically on insert (Core, ORM and
bulk inserts, through a column default) and on ORM attribute changes::

    class User(Base):
        ssn: Mapped[str] = mapped_column(EncryptedText())
        ssn_bidx: Mapped[bytes | None] = mapped_blind_index("ssn")

    select(User).where(User.ssn.blind_eq("123-45-6789"))
    # -> WHERE users.ssn_bidx IN (:h_k2, :h_k1): one HMAC per keyring key, so rows indexed
    #    under an older key still match while a rotation runs.

A Core ``UPDATE`` that sets the encrypted column must set the index too:
``.values(ssn=v, ssn_bidx=users.c.ssn.blind_hash(v))``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy import Column, LargeBinary, event
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import MappedColumn, Mapper, mapped_column

from hardening.keys import Key

INFO_KEY = "hardening_blind_index_of"


class Indexable(Protocol):
    """What a column type offers a blind index (the encrypted types implement it)."""

    def blind_hash(self, value: Any) -> bytes | None: ...


def hmac_key(key: Key, context: str) -> bytes:
    return key.derive(f"blind-index/v1/{context}")


def digest(mac_key: bytes, data: bytes) -> bytes:
    return hmac.new(mac_key, data, hashlib.sha256).digest()


def _default_for(source: str) -> Callable[[DefaultExecutionContext], bytes | None]:
    def fill(ctx: DefaultExecutionContext) -> bytes | None:
        params: dict[str, Any] = ctx.get_current_parameters()  # type: ignore[no-untyped-call]
        column = ctx.current_column
        table = column.table if column is not None else None
        if table is None or source not in table.c:
            raise LookupError(f"blind index: the table has no column {source!r}")
        src_type = cast(Indexable, table.c[source].type)
        return src_type.blind_hash(params.get(source))

    return fill


def blind_index_column(source: str, name: str | None = None, **kw: Any) -> Column[bytes]:
    """A Core ``Column`` (bytea, indexed) holding the blind index of column ``source``."""
    kw.setdefault("index", True)
    kw.setdefault("nullable", True)
    info = {**kw.pop("info", {}), INFO_KEY: source}
    args: tuple[Any, ...] = (name, LargeBinary) if name else (LargeBinary,)
    return Column(*args, default=_default_for(source), info=info, **kw)


def mapped_blind_index(source: str, name: str | None = None, **kw: Any) -> MappedColumn[Any]:
    """The ORM form of ``blind_index_column``: ``x_bidx: Mapped[bytes | None] = ...``."""
    kw.setdefault("index", True)
    kw.setdefault("nullable", True)
    info = {**kw.pop("info", {}), INFO_KEY: source}
    args: tuple[Any, ...] = (name, LargeBinary) if name else (LargeBinary,)
    return mapped_column(*args, default=_default_for(source), info=info, **kw)


def index_column_of(column: Any) -> Any:
    """The blind-index column declared for ``column`` in its table (``LookupError`` if none)."""
    table = getattr(column, "table", None)
    key = getattr(column, "key", None)
    if table is not None:
        for candidate in table.c:
            if candidate.info.get(INFO_KEY) == key:
                return candidate
    raise LookupError(
        f"column {key!r} has no blind index: declare one with "
        f"mapped_blind_index({key!r}) or blind_index_column({key!r})"
    )


@event.listens_for(Mapper, "mapper_configured")
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
