"""What SQL operators an encrypted column allows when a query is built.

The database holds ciphertext: equal values are different ciphertexts, and their order is
random. So ``==`` a value, ``LIKE``, ``<``, ``IN``, ``.asc()``, ``.distinct()`` would return
wrong rows and raise ``EncryptedComparisonError`` as soon as they are written; ``IS NULL``
works, and equality goes through a blind index with ``col.blind_eq(value)``. What cannot be
seen on the column itself (a bare ``ORDER BY col``, ``GROUP BY``, a comparison of two
columns) is refused when the statement is executed (``hardening.crypto.guard``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, cast

from sqlalchemy import and_
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Null
from sqlalchemy.types import TypeDecorator

from hardening.crypto.blind_index import index_column_of, stale_index_guard
from hardening.crypto.cipher import ColumnCipher
from hardening.errors import EncryptedComparisonError

__all__ = ["EncryptedComparator", "is_column", "is_null"]


class _Hashing(Protocol):
    cipher: ColumnCipher

    def blind_hash(self, value: Any) -> bytes | None: ...

    def blind_hashes(self, value: Any) -> list[bytes]: ...


class EncryptedComparator(TypeDecorator.Comparator[Any]):
    """The comparator of the kit's column types: lets through what works on ciphertext
    (``IS NULL``, ``== None``, a column compared with a column, which the statement guard
    judges when it runs) and ``blind_eq``; every other operator raises
    ``EncryptedComparisonError`` naming the column and the fix.

    Args:
        expr: the column expression (SQLAlchemy passes it).

    Example::

        select(User).where(User.ssn.blind_eq("123-45-6789"))   # through the blind index
        select(User).where(User.ssn == "123-45-6789")          # EncryptedComparisonError
    """

    _ALLOWED: ClassVar[frozenset[Any]] = frozenset({operators.is_, operators.is_not})

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> ColumnElement[Any]:
        self._check(op, other)
        return super().operate(op, *other, **kwargs)

    def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> ColumnElement[Any]:
        self._check(op, (other,))
        return super().reverse_operate(op, other, **kwargs)

    def _check(self, op: Any, other: tuple[Any, ...]) -> None:
        if op in self._ALLOWED:
            return
        if op in (operators.eq, operators.ne) and other and is_null(other[0]):
            return
        if op in (operators.eq, operators.ne) and other and is_column(other[0]):
            # Against a column (not a value): SQLAlchemy compares columns this way when it
            # looks one up in a list or dict (`c in columns`: INSERT .. RETURNING, the ORM's
            # UPDATE synchronisation), never sending the result. In SQL, a comparison with an
            # encrypted column is refused when the statement is executed (the guard),
            # except the column against itself.
            return
        name = getattr(op, "__name__", str(op)).rstrip("_").removesuffix("_op")
        col = getattr(self.expr, "key", "column")
        hint = (
            f"use {col}.blind_eq(value) with a blind index"
            if op in (operators.eq, operators.ne, operators.in_op)
            else "decrypt in the application instead"
        )
        raise EncryptedComparisonError(
            f"{name!r} cannot be computed on the encrypted column {col!r} (the database only "
            f"holds ciphertext, so it would return wrong rows); {hint}"
        )

    def blind_eq(self, value: Any) -> ColumnElement[bool]:
        """``bidx IN (hmac_k2(value), hmac_k1(value), ...)``: equality through the blind index,
        one entry per keyring key and index format, so rows indexed under an older key, or
        before index format 2, still match. A row whose index was made by a key the keyring
        no longer holds could not match: the statement raises ``BlindIndexError`` naming the
        key id instead of leaving the row out (``blind_index.stale_index_guard``).

        Args:
            value: the plaintext to look for (not None: a NULL has no blind index).

        Example::

            session.scalars(select(User).where(User.ssn.blind_eq("123-45-6789")))
        """
        index_col = index_column_of(self.expr)
        if is_null(value):
            col = getattr(self.expr, "key", "column")
            raise EncryptedComparisonError(
                f"blind_eq(None) cannot find NULLs of {col!r} (a NULL has no blind index); "
                f"use {col}.is_(None)"
            )
        hashes = cast(_Hashing, self.type).blind_hashes(value)
        cipher = cast(_Hashing, self.type).cipher
        guard = stale_index_guard(index_col, cipher.index_keys().heads, cipher.name)
        return and_(index_col.in_(hashes), guard)

    def blind_hash(self, value: Any) -> bytes | None:
        """The blind-index entry to store for ``value`` (active key; None for None).

        Args:
            value: the plaintext the encrypted column is set to.

        Example::

            update(users).values(ssn=v, ssn_bidx=users.c.ssn.blind_hash(v))
        """
        return cast(_Hashing, self.type).blind_hash(value)


def is_null(value: Any) -> bool:
    """True for None and SQL ``NULL``.

    Args:
        value: an operand.

    Example::

        is_null(sqlalchemy.null())    # True
    """
    return value is None or isinstance(value, Null)


def is_column(other: Any) -> bool:
    """True for a column expression, not a value (a bind parameter or a Python value).

    Args:
        other: an operand (an ORM attribute counts as its column).

    Example::

        is_column(User.ssn), is_column("x")    # (True, False)
    """
    clause = getattr(other, "__clause_element__", None)  # an ORM attribute
    if clause is not None:
        other = clause()
    return isinstance(other, ColumnElement) and not isinstance(other, BindParameter)
