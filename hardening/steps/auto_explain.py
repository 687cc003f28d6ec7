"""Step auto_explain: auto_explain prints neither bind values nor verbose output for the
database (``auto_explain.log_verbose = off``; on PostgreSQL 16+ also
``auto_explain.log_parameter_max_length = 0``).

With auto_explain active (``auto_explain.log_min_duration >= 0``), a custom plan folds the bind
values into constants: with ``log_verbose = on`` its ``Output:`` lines hold
``pgp_sym_encrypt('<plaintext>'::text, '<the column's password>'::text, ...)`` and the decrypt's
password array, and on 16+ the ``Query Parameters:`` line lists every bind value unless
``log_parameter_max_length`` is 0 (its default, -1, prints them in full). Step
``h007_log_hygiene`` covers the core's statement logging only. These parameters can be set for
the database whether or not auto_explain is loaded: an unloaded library's settings are stored
as placeholders and apply once it is.

PostgreSQL 15's auto_explain has no ``log_parameter_max_length`` (it prints no parameters), and
once it is loaded its reserved prefix makes the name an error, so the step sets it on 16+ only:
a DO block decides on the server (``sql/migrations/<id>/set_auto_explain.sql``), so ``--sql``
output does the same when psql runs it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hardening import ops, sqlfiles

# parameter -> value, and the server_version_num from which auto_explain has the parameter
VALUES = {
    "auto_explain.log_verbose": ("off", 0),
    "auto_explain.log_parameter_max_length": ("0", 160000),
}


def upgrade(step: str) -> None:
    """Each parameter the server's auto_explain has, set for the database once the role is
    known to be allowed to set all of them (one message naming every missing GRANT).

    Args:
        step: the revision id its changes are recorded under.

    Example::

        steps.named("auto_explain").upgrade()  # what its revision's upgrade() runs
    """
    ops.require(step, "database_owner")
    literals = {
        "step": step,
        "names": "{" + ",".join(VALUES) + "}",
        "vals": "{" + ",".join(value for value, _ in VALUES.values()) + "}",
        "since": "{" + ",".join(str(since) for _, since in VALUES.values()) + "}",
    }
    statement = sqlfiles.load(f"migrations/{step}/set_auto_explain.sql")
    op.execute(
        sa.text(statement).bindparams(
            *(
                sa.bindparam(name, value, type_=sa.Text, literal_execute=True)
                for name, value in literals.items()
            )
        )
    )


def downgrade(step: str) -> None:
    """Undo everything the upgrade recorded, newest first (``ops.undo``).

    Args:
        step: the revision id its changes are recorded under.

    Example::

        steps.named("auto_explain").downgrade()  # what its revision's downgrade() runs
    """
    ops.undo(step)
