"""``EncryptedBase``: what both families of encrypted column types share.

A column context (schema, table, column) bound when the type is attached to a column, a
``ColumnCipher`` for its keys, the comparator that refuses SQL operators on ciphertext, blind
hashing, the refusal to render a value as a SQL literal, and the moments the kit's hooks go on
an engine: the first time the type is compiled for that engine's dialect
(``load_dialect_impl``), or its column is (the column becomes a ``KitColumn``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import SchemaEventTarget
from sqlalchemy.sql.schema import Column, Table
from sqlalchemy.types import TypeDecorator, TypeEngine

from hardening.crypto.cipher import ColumnCipher
from hardening.crypto.comparator import EncryptedComparator
from hardening.crypto.context import ColumnContext
from hardening.crypto.keys import KeyHook, Keyring, KeySource, as_keyring
from hardening.crypto.kit_column import adopt
from hardening.crypto.redacted import sealed
from hardening.errors import ColumnContextError, EncryptedValueError, InlineKeyError

__all__ = ["EncryptedBase"]

T = TypeVar("T")


class EncryptedBase(TypeDecorator[T], Generic[T]):
    """Base of the kit's column types (stored as ``bytea``); one instance serves one column.

    Args:
        context: what the ciphertext is bound to; by default the schema (as the ``Table``
            declares it), table and name of the column the type is attached to. Give the old
            one to keep reading values after renaming the schema, table or column, or one for
            a type used outside a table (``literal()``): ``"table.column"``,
            ``"schema.table.column"`` or a ``ColumnContext``.
        keys: the column's own keys (a hook returning them, a ``Keyring``, a spec string,
            a ``{key_id: bytes}`` mapping or pairs), checked now; None uses the process-wide
            keyring (``HARDENING_KEYS`` or ``configure_keys``).

    Example::

        ssn: Mapped[str] = mapped_column(EncryptedText())
        legacy: Mapped[str] = mapped_column(EncryptedText(context="old_users.ssn"))
    """

    impl = LargeBinary
    cache_ok = True
    comparator_factory = EncryptedComparator
    # True for the pgcrypto family: the SELECT decrypts in PostgreSQL, so the select list
    # holds values, not ciphertext.
    decrypted_in_sql: ClassVar[bool] = False

    def __init__(
        self,
        context: ColumnContext | str | None = None,
        keys: KeyHook | KeySource | None = None,
    ) -> None:
        super().__init__()
        self.context = context
        keys = sealed(keys)  # no frame of a failed parse shows the other keys
        if keys is not None and not callable(keys):
            # checked now (a bad key fails where the type is configured) and hashable for
            # SQLAlchemy's statement cache
            keys = as_keyring(keys, origin=f"keys= of {type(self).__name__}")
        self.keys: KeyHook | Keyring | None = keys
        self.cipher = self._new_cipher(context)

    def _new_cipher(self, context: ColumnContext | str | None) -> ColumnCipher:
        """The column's cipher for ``context`` (the AEAD types add their options)."""
        return ColumnCipher(context, self.keys)

    def __repr__(self) -> str:  # also of one half made: a traceback's locals show it
        cipher = self.__dict__.get("cipher")
        context = cipher.context if cipher is not None else self.__dict__.get("context")
        return f"{type(self).__name__}(context={context!r})"

    def _set_parent(self, parent: SchemaEventTarget, outer: bool = False, **kw: Any) -> None:
        super()._set_parent(parent, outer=outer, **kw)
        if isinstance(parent, Column):
            adopt(parent)  # its every rendering puts the hooks on (hardening.crypto.kit_column)
            parent._on_table_attach(self._set_table)

    def _set_table(self, column: Column[Any], table: Table) -> None:
        if self.context is not None:
            return
        where = ColumnContext(table.schema, table.name, column.name)
        name = where.name
        current = self.cipher.context
        # SQLAlchemy's copies (mixin columns, to_metadata, dialect impls) share __dict__ and so
        # the cipher; a copy gets its own cipher here. The very instance on a second column is
        # refused: rebinding would move the first column's values to the second column's
        # associated data, blind-index key and pgcrypto password, and they would stop reading.
        if current is not None and current != name and self.__dict__.get("_bound_id") == id(self):
            raise ColumnContextError(
                f"one {type(self).__name__} instance is used by two columns, {current} and "
                f"{name}; give each column its own instance ({type(self).__name__}() in each "
                "Column / mapped_column), so each binds its values to its own table.column"
            )
        self.cipher = self._new_cipher(where)
        self._bound_id = id(self)

    @property
    def column_context(self) -> str:
        """``schema.table.column`` (``table.column`` without a schema): what the ciphertext
        is bound to (raises when not attached)."""
        return self.cipher.name

    # -- the hooks go on the engine ----------------------------------------------------------
    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """SQLAlchemy calls this the first time the type is compiled for ``dialect`` (DDL,
        a bind parameter, a result column): the kit's hooks go on that dialect then, before
        the statement that compiles the type runs."""
        # Imported here: the hooks judge statements by these very types.
        from hardening.crypto.hooks import install

        install(dialect)
        return super().load_dialect_impl(dialect)

    # -- the Python value <-> bytes ---------------------------------------------------------
    def to_bytes(self, value: Any) -> bytes:
        """The bytes a value is stored as (before encryption); each type defines it.

        Args:
            value: a value of the column's Python type.

        Example::

            EncryptedInteger().to_bytes(42)    # b"42"
        """
        raise NotImplementedError

    def from_bytes(self, data: bytes) -> Any:
        """The value of decrypted bytes; each type defines it.

        Args:
            data: what ``to_bytes`` made.

        Example::

            EncryptedInteger().from_bytes(b"42")    # 42
        """
        raise NotImplementedError

    def _encode(self, value: Any, convert: Callable[[Any], bytes] | None = None) -> bytes:
        """``value`` converted by ``convert`` (default ``to_bytes``), or the error naming the
        column and the types (never the value)."""
        try:
            return (convert or self.to_bytes)(value)
        except (TypeError, ValueError, AttributeError, ArithmeticError, struct.error):
            pass  # raised below, outside the block: the converter's error may quote the value
        raise EncryptedValueError(
            f"{type(self).__name__} of {self.cipher.name} cannot store a "
            f"{type(value).__name__} value; it expects {self._python_type_name()}"
        )

    def _python_type_name(self) -> str:
        try:
            return self.python_type.__name__
        except NotImplementedError:
            return "a value of the column's type"

    # -- never a literal ---------------------------------------------------------------------
    def literal_processor(self, dialect: Dialect) -> Callable[[Any], str]:
        """Refused before any value is looked at: SQLAlchemy's own error for a failing literal
        quotes the value (a plaintext), and a literal would put it in the SQL text."""
        where = self.cipher.context or "an encrypted column"
        raise InlineKeyError(
            f"{type(self).__name__} values of {where} cannot be rendered as SQL literals "
            "(literal_binds, Alembic --sql): the value would be written into the SQL text; "
            "run the statement with bind parameters, online"
        )

    # -- blind index -------------------------------------------------------------------------
    def index_bytes(self, value: Any) -> bytes:
        """The bytes a blind index hashes for ``value``: one form for equal values
        (``hardening.crypto.canonical``); by default the text form (``to_bytes``). Never the
        stored payload: its fixed-width form or padding play no part, so a value hashes alike
        in every value format.

        Args:
            value: a value of the column's Python type.

        Example::

            EncryptedNumeric().index_bytes(Decimal("1.10"))    # b"11E-1", as for 1.1
        """
        return self.to_bytes(value)

    def _index_form(self, value: Any) -> bytes:
        return self._encode(value, self.index_bytes)

    def blind_hashes(self, value: Any) -> list[bytes]:
        """Every blind-index value a lookup of ``value`` matches: under each keyring key,
        active first, in the index format of ``hardening.crypto.index_format`` and in the
        format written before it.

        Args:
            value: a value of the column's Python type.

        Example::

            users.c.ssn.type.blind_hashes("123-45-6789")   # [v2_k2, v2_k1, v1_k2, v1_k1]
        """
        return self.cipher.blind_hashes(self._index_form(value), self._encode(value))

    def blind_hash(self, value: Any) -> bytes | None:
        """The blind-index value to store for ``value`` (active key); None for None.

        Args:
            value: a value of the column's Python type, or None.

        Example::

            update(users).values(ssn=v, ssn_bidx=users.c.ssn.type.blind_hash(v))
        """
        if value is None:
            return None
        return self.cipher.blind_hash(self._index_form(value))
