"""Step h002_pgcrypto: pgcrypto in setting pgcrypto_schema (unless it is installed already);
its PGP functions get the planner cost of setting pgcrypto_function_cost."""

from __future__ import annotations

from hardening import ops
from hardening.steps import PGCRYPTO_FUNCTIONS
from hardening.steps.values import int_setting, setting


def upgrade(step: str) -> None:
    """The extension, then the cost of its PGP functions (prior costs restored on downgrade;
    functions the migrating role may not alter are left alone, with a NOTICE).

    Args:
        step: the revision id (``h002_pgcrypto``) its changes are recorded under.

    Example::

        steps.get("h002_pgcrypto").upgrade()  # what its revision's upgrade() runs
    """
    cost = int_setting("pgcrypto_function_cost", 1, 10**6)
    ops.ensure_extension(step, "pgcrypto", setting("pgcrypto_schema"))
    ops.set_function_cost(step, "pgcrypto", PGCRYPTO_FUNCTIONS, cost)


def downgrade(step: str) -> None:
    """Undo everything the upgrade recorded, newest first (``ops.undo``).

    Args:
        step: the revision id (``h002_pgcrypto``) its changes are recorded under.

    Example::

        steps.get("h002_pgcrypto").downgrade()  # what its revision's downgrade() runs
    """
    ops.undo(step)
