"""The kit's columns put the engine hooks on whenever a statement renders them.

A column of one of the kit's types (and a blind-index column) becomes a ``KitColumn``, a
``Column`` that, each time a compiler renders it, first makes sure the kit's hooks are on
that compiler's dialect (``hardening.crypto.hooks.install``). So a statement that only sorts,
groups or compares an encrypted column, and compiles no encrypted type
(``select(User.id).order_by(User.ssn)``), puts them on while it is compiled, before it runs,
even as the first statement of a new engine. Nothing changes for any other column: no class
of SQLAlchemy gets a listener, and only ``Column`` objects of the kit change class.

Why a class and not an attribute on the column: SQLAlchemy's copies of a column (an ORM
attribute's annotated column, a clone) copy its ``__dict__``, so a function stored there
would stay bound to the original column and render it in place of the copy. A method of the
class is bound to whichever copy is rendered. The copies SQLAlchemy makes keep the class:
annotated copies subclass it, and copies and proxies (``aliased()``, ``.alias()``,
``.subquery()``, ``to_metadata``, mixins) are made with the column's own class, or with
``Column`` and the kit's type, which makes them ``KitColumn`` again.

Only plain ``Column`` objects change class; a column of an application's own ``Column``
subclass stays as it is (``install(engine)`` at start-up covers it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.schema import Column

__all__ = ["KitColumn", "adopt"]


class KitColumn(Column[Any]):
    """A ``Column`` that puts the kit's hooks on the dialect it is compiled for (see the
    module docstring). Made by ``adopt``; construct it as a ``Column``.

    Example::

        adopt(users.c.ssn)
        isinstance(users.c.ssn, KitColumn)    # True
    """

    inherit_cache = True

    def _compiler_dispatch(self, visitor: Any, **kw: Any) -> Any:
        dialect = getattr(visitor, "dialect", None)
        if dialect is not None:
            # Imported here: the hooks judge statements by the kit's types, which adopt
            # their columns.
            from hardening.crypto.hooks import install

            install(dialect)
        return super()._compiler_dispatch(visitor, **kw)


def adopt(column: Column[Any]) -> None:
    """Make ``column`` a ``KitColumn`` if it is a plain ``Column``.

    Args:
        column: a column of one of the kit's types, or a blind-index column.

    Example::

        adopt(Column("ssn_bidx", LargeBinary))
    """
    if type(column) is Column:
        column.__class__ = KitColumn
