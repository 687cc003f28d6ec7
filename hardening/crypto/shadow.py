"""``op.encrypt_column``'s online change of a plaintext column to ``bytea``, with no transaction
that rewrites the whole table.

``ALTER COLUMN ... TYPE bytea`` rewrites every row in one transaction holding an ACCESS
EXCLUSIVE lock: ~5 s for 1,000,000 rows on these machines, during which every read and
write of the table waits. Instead:

1. **Check** (nothing changes): no view, rule, index, constraint or foreign key uses the
   column (none could work on ciphertext; the error lists them, to drop first), and it is
   not a generated or identity column.
2. **Prepare** (one short transaction): a ``bytea`` shadow column, ``<column>__hardening``,
   and a trigger that, whenever a row's column is inserted or updated, stores the new value's
   text (UTF-8) in the shadow, clears the blind index and notes the row's key in a small
   table (``hardening_pending_<hash>``).
3. **Fill** (the column rewriter, in batches): each row whose shadow is still NULL gets the
   envelope of its column's text; a row written meanwhile keeps what the trigger stored.
4. **Swap** (one short transaction): the trigger goes, the plaintext column is dropped and
   the shadow takes its name (catalog changes only); NOT NULL is carried over through a
   ``CHECK`` validated before, so the swap scans nothing.

Then the in-place rewrite encrypts the rows noted, those the application wrote during the
fill (none, usually: then nothing is read again), and the note table goes. The
column's default (plaintext), comment and column privileges are not carried over, and it
becomes the table's last column. Until the swap the application keeps reading and writing
the plaintext column as before.
"""

from __future__ import annotations

import hashlib
from typing import Any

from alembic.operations import Operations
from sqlalchemy import column, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from hardening.crypto.plan import ColumnPlan
from hardening.errors import EncryptColumnError

__all__ = ["Shadow"]

_CHECK = """
SELECT a.attnum, a.attnotnull, a.attgenerated <> '' OR a.attidentity <> '' AS generated,
       coalesce((SELECT array_agg(DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass
                   THEN 'view ' || (SELECT r.ev_class::regclass::text FROM pg_rewrite r
                                    WHERE r.oid = d.objid)
                   ELSE pg_describe_object(d.classid, d.objid, 0) END)
                 FROM pg_depend d
                 WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = a.attrelid
                   AND d.refobjsubid = a.attnum AND d.classid <> 'pg_attrdef'::regclass
                   AND d.deptype IN ('n', 'a')
                   AND NOT (d.classid = 'pg_trigger'::regclass AND d.objid IN
                            (SELECT oid FROM pg_trigger WHERE tgname = :trigger))),
                '{}') AS users
FROM pg_attribute a
WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = :column AND NOT a.attisdropped
"""


class Shadow:
    """The shadow column of one ``op.encrypt_column`` and the statements around it (no I/O
    until a method runs).

    Args:
        plan: the column's plan (``inspect_column``).
        conn: the migration's connection (for quoting and queries).
        index: the blind-index column the trigger clears, or None.

    Example::

        shadow = Shadow(plan, conn, "ssn_bidx")
        shadow.check(conn)
        shadow.prepare(operations)
    """

    def __init__(self, plan: ColumnPlan, conn: Connection, index: str | None) -> None:
        prep = conn.dialect.identifier_preparer
        self.plan = plan
        self.name = _name(plan.column, "__hardening")
        digest = hashlib.sha256(plan.name.encode()).hexdigest()[:12]
        self.function = f"hardening_encrypt_{digest}"
        schema = f"{prep.quote_schema(plan.schema)}." if plan.schema else ""
        self.table = schema + prep.quote(plan.table)
        self.qualified_function = schema + prep.quote(self.function)
        self.pending = f"hardening_pending_{digest}"
        self.qualified_pending = schema + prep.quote(self.pending)
        self.key = prep.quote(plan.key)
        self.column = prep.quote(plan.column)
        self.shadow = prep.quote(self.name)
        self.index = prep.quote(index) if index else None
        self.check_name = prep.quote(_name(plan.column, "__hardening_not_null"))
        self.not_null = False

    def exists(self) -> bool:
        """An interrupted conversion left the shadow column (``plan.types`` has it)."""
        return self.name in self.plan.types

    def check(self, conn: Connection) -> None:
        """Refuse, before anything changes, a column the swap could not drop and rename.

        Args:
            conn: the migration's connection.

        Example::

            shadow.check(conn)    # EncryptColumnError naming a view that uses the column
        """
        row = conn.execute(
            text(_CHECK),
            {"table": self.table, "column": self.plan.column, "trigger": self.function},
        ).one()
        self.not_null = bool(row.attnotnull)
        name = self.plan.name
        if row.generated:
            raise EncryptColumnError(
                f"{name} is a generated or identity column: its values are computed by "
                "PostgreSQL and cannot be encrypted"
            )
        if row.users:
            raise EncryptColumnError(
                f"{name} is used by {', '.join(row.users)}: none of them can work on "
                "ciphertext, and the column is replaced by an encrypted one; drop them first "
                "in the revision (op.drop_index, op.drop_constraint, DROP VIEW), a uniqueness "
                "check goes on the blind index"
            )

    def prepare(self, operations: Operations) -> None:
        """Add the shadow column and the trigger that keeps it in step (in the migration's
        transaction); a second run after an interruption replaces the trigger.

        Args:
            operations: the migration's operations.

        Example::

            shadow.prepare(op)
        """
        if not self.exists():
            operations.execute(f"ALTER TABLE {self.table} ADD COLUMN {self.shadow} bytea")
        operations.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {self.qualified_pending} AS "
            f"SELECT {self.key} AS key FROM {self.table} WITH NO DATA"
        )
        clear = f"NEW.{self.index} := NULL; " if self.index else ""
        tag = "$hardening_" + self.function[-12:] + "$"
        operations.execute(
            f"CREATE OR REPLACE FUNCTION {self.qualified_function}() RETURNS trigger "
            f"LANGUAGE plpgsql AS {tag} BEGIN NEW.{self.shadow} := "
            f"convert_to(NEW.{self.column}::text, 'UTF8'); {clear}"
            f"INSERT INTO {self.qualified_pending} VALUES (NEW.{self.key}); RETURN NEW; END {tag}"
        )
        trigger = self.function
        operations.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {self.table}")
        operations.execute(
            f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE OF {self.column} ON {self.table} "
            f"FOR EACH ROW EXECUTE FUNCTION {self.qualified_function}()"
        )

    def before_swap(self, conn: Connection) -> None:
        """Prove the shadow column holds no NULL where the column is NOT NULL, with a
        ``CHECK`` validated without blocking writes (its own statements, in autocommit).

        Args:
            conn: a connection in autocommit mode.

        Example::

            shadow.before_swap(conn)
        """
        if not self.not_null:
            return
        conn.exec_driver_sql(
            f"ALTER TABLE {self.table} DROP CONSTRAINT IF EXISTS {self.check_name}"
        )
        conn.exec_driver_sql(
            f"ALTER TABLE {self.table} ADD CONSTRAINT {self.check_name} "
            f"CHECK ({self.shadow} IS NOT NULL) NOT VALID"
        )
        conn.exec_driver_sql(f"ALTER TABLE {self.table} VALIDATE CONSTRAINT {self.check_name}")

    def swap(self, operations: Operations) -> None:
        """Replace the plaintext column by the shadow (catalog changes, in the migration's
        transaction).

        Args:
            operations: the migration's operations.

        Example::

            shadow.swap(op)
        """
        self.drop_trigger(operations)
        operations.execute(f"ALTER TABLE {self.table} DROP COLUMN {self.column}")
        operations.execute(f"ALTER TABLE {self.table} RENAME COLUMN {self.shadow} TO {self.column}")
        if self.not_null:
            operations.execute(f"ALTER TABLE {self.table} ALTER COLUMN {self.column} SET NOT NULL")
            operations.execute(f"ALTER TABLE {self.table} DROP CONSTRAINT {self.check_name}")

    def written(self, key: ColumnElement[Any]) -> ColumnElement[bool]:
        """The condition that selects the rows the application wrote during the fill (their
        column holds their text after the swap).

        Args:
            key: the table's key column, as the rewrite selects it.

        Example::

            rewriter.walk(..., where=[shadow.written(rewriter.pk)])
        """
        noted = table(self.pending, column("key"), schema=self.plan.schema)
        return key.in_(select(noted.c.key))

    def any_written(self, conn: Connection) -> bool:
        """Whether the application wrote the column during the fill.

        Args:
            conn: a connection.

        Example::

            if shadow.any_written(conn): ...
        """
        query = f"SELECT EXISTS (SELECT 1 FROM {self.qualified_pending})"
        return bool(conn.exec_driver_sql(query).scalar())

    def finish(self, operations: Operations) -> None:
        """Drop the table of rows written during the fill, once they are encrypted.

        Args:
            operations: the migration's operations.

        Example::

            shadow.finish(op)
        """
        operations.execute(f"DROP TABLE IF EXISTS {self.qualified_pending}")

    def drop_trigger(self, operations: Operations) -> None:
        """Remove the trigger and its function.

        Args:
            operations: the migration's operations.

        Example::

            shadow.drop_trigger(op)
        """
        operations.execute(f"DROP TRIGGER IF EXISTS {self.function} ON {self.table}")
        operations.execute(f"DROP FUNCTION IF EXISTS {self.qualified_function}()")

    def abandon(self, operations: Operations) -> None:
        """Undo an interrupted conversion (the downgrade of one that never swapped): the
        trigger, its function and the shadow column go; the plaintext column never changed.

        Args:
            operations: the migration's operations.

        Example::

            shadow.abandon(op)
        """
        self.drop_trigger(operations)
        self.finish(operations)
        operations.execute(f"ALTER TABLE {self.table} DROP CONSTRAINT IF EXISTS {self.check_name}")
        operations.execute(f"ALTER TABLE {self.table} DROP COLUMN IF EXISTS {self.shadow}")


def _name(column: str, suffix: str) -> str:
    """``column + suffix`` within PostgreSQL's 63 bytes (a long name is cut and hashed)."""
    name = column + suffix
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha256(column.encode()).hexdigest()[:8]
    return column.encode()[: 63 - len(suffix) - 9].decode(errors="ignore") + "_" + digest + suffix
