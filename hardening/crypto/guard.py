"""The statement guard: SQL that would silently work on ciphertext is refused before it runs.

Operators on an encrypted column (``<``, ``LIKE``, ``==`` a value) are refused when the query
is built (``hardening.crypto.comparator``). What only the whole statement shows is refused
here, when it is executed, at any depth (subqueries, CTEs, set operations, and what the ORM
adds when it compiles: eager loads' ORDER BY, column properties):

* ``ORDER BY`` an encrypted column or an expression of its type (also ``OVER (ORDER BY)``,
  ``WITHIN GROUP``, a column named by a string);
* ``GROUP BY`` (also ``ROLLUP``/``CUBE``/``GROUPING SETS``), ``PARTITION BY`` and
  ``DISTINCT ON`` an encrypted column, unless the same list holds its table's whole primary
  key (then each group is one row, and its ciphertext is as distinct as the row);
* ``SELECT DISTINCT``, ``UNION``, ``INTERSECT`` and ``EXCEPT`` of an AEAD column without its
  table's primary key in the select list (a pgcrypto column is decrypted in the select list,
  so these see its values);
* a comparison with an encrypted column on one side (``tuple_(id, col).in_(..)``,
  ``col == other_col``), other than ``IS [NOT] NULL`` and the column against itself.

SQL given as text (``text()``, ``literal_column()``) is not looked into. The engine hooks
(``hardening.crypto.hooks``) call ``check_compiled`` before each statement is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import elements, operators, visitors
from sqlalchemy.sql.functions import FunctionElement

from hardening.crypto.base import EncryptedBase
from hardening.errors import EncryptedComparisonError

__all__ = ["check_compiled", "refuse_on_ciphertext"]


def check_compiled(compiled: Any) -> None:
    """Refuse the statement ``compiled`` was made from, and what the ORM compiled it into, if
    it would work on ciphertext; judged once per compiled form (SQLAlchemy caches those per
    statement shape; walking a statement costs ~0.1 ms).

    Args:
        compiled: an ``SQLCompiler`` (``context.compiled`` of an execution).

    Example::

        check_compiled(select(User.id).order_by(User.ssn).compile(engine))
        # EncryptedComparisonError: ORDER BY the encrypted column 'users.ssn' would sort ...
    """
    if "_hardening_checked" in compiled.__dict__:
        return
    statement = getattr(compiled, "statement", None)
    if isinstance(statement, sa.ClauseElement):
        refuse_on_ciphertext(statement)
    # what the ORM compiled the statement into: eager loads' ORDER BY, column properties
    core = getattr(getattr(compiled, "compile_state", None), "statement", None)
    if isinstance(core, sa.ClauseElement) and core is not statement:
        refuse_on_ciphertext(core)
    compiled.__dict__["_hardening_checked"] = True


def refuse_on_ciphertext(statement: sa.ClauseElement) -> None:
    """Raise ``EncryptedComparisonError`` naming the column and the fix if ``statement``
    would order, group, de-duplicate or compare ciphertext (see the module docstring).

    Args:
        statement: a Core or ORM statement.

    Example::

        refuse_on_ciphertext(select(User.id).group_by(User.ssn))   # raises
        refuse_on_ciphertext(select(User.id).order_by(User.id))    # returns
    """
    for element, owner in _walk(statement, None):
        clauses = list(getattr(element, "_order_by_clauses", None) or ())
        order_by = getattr(element, "order_by", None)
        if isinstance(order_by, sa.ClauseElement):  # Over, WithinGroup, aggregate_order_by
            clauses.extend(getattr(order_by, "clauses", None) or (order_by,))
        for clause in clauses:
            for target in _targets(owner, clause):
                col_type = getattr(target, "type", None)
                if isinstance(col_type, EncryptedBase):
                    raise EncryptedComparisonError(
                        f"ORDER BY the encrypted column {_column_name(target, col_type)} would "
                        "sort ciphertext, not values; sort in the application instead"
                    )
        group_by = list(getattr(element, "_group_by_clauses", None) or ())
        if group_by:
            _refuse_grouping(owner, group_by, "GROUP BY")
        partition_by = getattr(element, "partition_by", None)
        if partition_by is not None and getattr(partition_by, "clauses", None):
            _refuse_grouping(owner, list(partition_by.clauses), "PARTITION BY")
        if isinstance(element, sa.Select):
            on = _distinct_on(element)
            if on:
                _refuse_grouping(element, on, "DISTINCT ON")
            elif element._distinct:
                _refuse_grouping(element, list(element.selected_columns), "SELECT DISTINCT")
        if isinstance(element, sa.CompoundSelect) and element.keyword.value != "UNION ALL":
            for member in element.selects:
                columns = list(getattr(member, "selected_columns", ()))
                _refuse_grouping(member, columns, element.keyword.value)
        if isinstance(element, sa.BinaryExpression) and element.operator not in _NULL_TESTS:
            _refuse_comparison(element)


_NULL_TESTS = frozenset({operators.is_, operators.is_not})
_GROUPING_SETS = frozenset({"rollup", "cube", "grouping_sets"})
_SELECT_LISTS = frozenset(
    {"SELECT DISTINCT", "UNION", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"}
)


def _walk(element: Any, owner: Any) -> Iterator[tuple[Any, Any]]:
    """Every element under ``element`` with the SELECT it belongs to (for names given as
    strings)."""
    if isinstance(element, sa.Select | sa.CompoundSelect):
        owner = element
    yield element, owner
    for child in element.get_children():
        yield from _walk(child, owner)


def _distinct_on(select_: sa.Select[Any]) -> list[Any]:
    """``select.distinct(col)`` and ``select.ext(distinct_on(col))`` (SQLAlchemy 2.1)."""
    on = list(select_._distinct_on or ())
    pre = getattr(select_, "_pre_columns_clause", None)
    if pre is not None:
        for item in visitors.iterate(pre):
            if not isinstance(item, sa.Select):
                on.extend(getattr(item, "_distinct_on", None) or ())
    return on


def _targets(owner: Any, clause: Any) -> list[Any]:
    """What an ORDER BY / GROUP BY item stands for: labels and ``.desc()`` unwrapped, a name
    given as a string resolved as SQLAlchemy does (the select list, then the FROM tables),
    ``ROLLUP(..)`` and friends and a FROM object (``group_by(User)``) expanded."""
    target = clause
    while True:
        if isinstance(target, elements._textual_label_reference):  # order_by("ssn")
            target = _named(owner, target.element)
        elif isinstance(target, sa.UnaryExpression | sa.Label | elements._label_reference):
            target = target.element
        else:
            break
    if target is None:
        return []
    if isinstance(target, FunctionElement):  # a function is a FromClause too
        if str(getattr(target, "name", "")) in _GROUPING_SETS:
            return [t for item in target.clauses for t in _targets(owner, item)]
        return [target]
    if isinstance(target, sa.FromClause):
        return list(target.c)
    if isinstance(target, elements.ClauseList):  # a tuple, or a list SQLAlchemy grouped
        return [t for item in target.clauses for t in _targets(owner, item)]
    return [target]


def _named(owner: Any, name: str) -> Any:
    """The column a string in ``order_by("name")`` / ``group_by("name")`` names, if any."""
    columns = getattr(owner, "selected_columns", None)
    if columns is not None and name in columns:
        return columns[name]
    froms = owner.get_final_froms() if isinstance(owner, sa.Select) else ()
    for from_ in froms:
        if name in from_.c:
            return from_.c[name]
    return None


def _refuse_grouping(owner: Any, clauses: list[Any], what: str) -> None:
    targets = [t for clause in clauses for t in _targets(owner, clause)]
    present = {id(_plain(t)) for t in targets}
    select_list = what in _SELECT_LISTS
    for target in targets:
        col_type = getattr(target, "type", None)
        if not isinstance(col_type, EncryptedBase):
            continue
        if select_list and col_type.decrypted_in_sql:
            continue  # a pgcrypto column is decrypted in the select list: these see values
        table = getattr(_plain(target), "table", None)
        if table is None and select_list:
            continue  # an expression (a column property's subquery): its row decides
        key = list(getattr(table, "primary_key", None) or ())
        if key and all(id(_plain(k)) in present for k in key):
            continue
        name = _column_name(target, col_type)
        if select_list:
            raise EncryptedComparisonError(
                f"{what} of the encrypted column {name} without its table's primary key would "
                "not merge equal values (each is a different ciphertext); select the primary "
                "key too, or de-duplicate in the application"
            )
        raise EncryptedComparisonError(
            f"{what} the encrypted column {name} would group ciphertext (equal values are "
            "different ciphertexts); group in the application, or add the table's primary key"
        )


def _refuse_comparison(element: sa.BinaryExpression[Any]) -> None:
    sides = [element.left, element.right]
    items = [i for side in sides for i in (side.clauses if isinstance(side, sa.Tuple) else [side])]
    encrypted = [i for i in items if isinstance(getattr(_plain(i), "type", None), EncryptedBase)]
    if not encrypted:
        return
    if _plain(element.left) is _plain(element.right):
        return  # the column against itself (the ORM's UPDATE synchronisation)
    target = _plain(encrypted[0])
    name = _column_name(target, target.type)
    raise EncryptedComparisonError(
        f"a comparison with the encrypted column {name} would "
        "compare ciphertext (equal values are different ciphertexts); use blind_eq with a "
        "blind index, or compare in the application"
    )


def _column_name(target: Any, col_type: EncryptedBase[Any]) -> str:
    context = col_type.cipher.context
    return repr(context or getattr(target, "key", None) or "column")


def _plain(column: Any) -> Any:
    while isinstance(column, sa.Label):
        column = column.element
    deannotate = getattr(column, "_deannotate", None)
    return deannotate() if deannotate is not None else column
