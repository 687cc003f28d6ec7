"""Step h007_log_hygiene: bind parameters (keys, plaintexts) never reach the server log, errors
included (``log_parameter_max_length[_on_error] = 0`` for the database)."""

from __future__ import annotations

from hardening import ops

VALUES = {"log_parameter_max_length": "0", "log_parameter_max_length_on_error": "0"}


def upgrade(step: str) -> None:
    """Both parameters at 0 for the database, once the role is known to be allowed to.

    Args:
        step: the revision id (``h007_log_hygiene``) its changes are recorded under.

    Example::

        steps.get("h007_log_hygiene").upgrade()  # what its revision's upgrade() runs
    """
    ops.require(step, "database_owner")
    ops.require_settable(step, VALUES)
    for name, value in VALUES.items():
        ops.set_database_setting(step, name, value)


def downgrade(step: str) -> None:
    """Undo everything the upgrade recorded, newest first (``ops.undo``).

    Args:
        step: the revision id (``h007_log_hygiene``) its changes are recorded under.

    Example::

        steps.get("h007_log_hygiene").downgrade()  # what its revision's downgrade() runs
    """
    ops.undo(step)
