"""Where an encrypted value belongs: its column's schema, table and name, as one structured
context that every key derivation and every associated data of the current formats use.

Each part is length-prefixed (``<UTF-8 byte length>:<part>``, a netstring without its comma),
so no two columns share a context: ``"a.b".c`` and ``a."b.c"`` encode as ``0:3:a.b1:c`` and
``0:1:a3:b.c``, and ``tenant_a.users.ssn`` differs from ``tenant_b.users.ssn``. A table found
through the search path (no schema given) has the empty schema ``""``, a name PostgreSQL does
not allow, so it is never mistaken for a named one.

The first formats bound values to ``table.column`` as one string; ``ColumnContext.legacy``
keeps that string, so values written in those formats keep reading.
"""

from __future__ import annotations

from typing import NamedTuple

from hardening.errors import ColumnContextError

__all__ = ["ColumnContext", "netstring"]


def netstring(part: str | bytes) -> bytes:
    """``part`` with its length in front: ``b"<UTF-8 byte length>:<part>"``.

    Args:
        part: text (encoded as UTF-8) or bytes.

    Example::

        netstring("users")    # b"5:users"
    """
    data = part.encode("utf-8") if isinstance(part, str) else part
    return b"%d:%s" % (len(data), data)


class ColumnContext(NamedTuple):
    """One column's place: schema (None for the search path), table and column.

    Args:
        schema: the table's schema as the model declares it (``Table(schema=...)``), or None.
        table: the table's name.
        column: the column's name.
        legacy: what the first formats bound values to (``table.column``, or the ``context=``
            string given then); None derives it from ``table`` and ``column``.

    Example::

        where = ColumnContext("tenant_a", "users", "ssn")
        where.name       # 'tenant_a.users.ssn'
        where.encoded    # b'8:tenant_a5:users3:ssn'
    """

    schema: str | None
    table: str
    column: str
    legacy: str | None = None

    @classmethod
    def of(cls, value: ColumnContext | str | tuple[str | None, str, str]) -> ColumnContext:
        """A context from a ``ColumnContext``, a ``(schema, table, column)`` tuple, or a
        string ``"table.column"`` / ``"schema.table.column"`` (whose ``legacy`` is the string
        itself, as the first formats used it).

        Args:
            value: any of those.

        Raises ``ColumnContextError`` for a string that is not two or three dotted names
        (a name holding a dot needs the tuple form).

        Example::

            ColumnContext.of("users.ssn")                  # schema None
            ColumnContext.of(("tenant_a", "users", "ssn"))
        """
        if isinstance(value, ColumnContext):
            return value
        if isinstance(value, tuple):
            schema, table, column = value
            return cls(schema, table, column)
        parts = value.split(".") if isinstance(value, str) else []
        if len(parts) not in (2, 3) or not all(parts):
            raise ColumnContextError(
                f"context={value!r} is not 'table.column' or 'schema.table.column'; for names "
                "holding a dot, pass ColumnContext(schema, table, column)"
            )
        schema = parts[0] if len(parts) == 3 else None
        return cls(schema, parts[-2], parts[-1], value)

    @property
    def name(self) -> str:
        """``schema.table.column`` (``table.column`` without a schema), for messages."""
        return f"{self.schema}.{self.table}.{self.column}" if self.schema else self.where

    @property
    def where(self) -> str:
        """``table.column``: the string the first formats bound values to, unless ``legacy``
        says otherwise."""
        return f"{self.table}.{self.column}"

    @property
    def first_format(self) -> str:
        """What the first formats (AEAD 1, pgcrypto 2, blind index 1) bound values to."""
        return self.legacy if self.legacy is not None else self.where

    @property
    def encoded(self) -> bytes:
        """Schema, table and column, each length-prefixed (``netstring``): the bytes every
        current format derives its keys from and binds its values to."""
        return netstring(self.schema or "") + netstring(self.table) + netstring(self.column)
