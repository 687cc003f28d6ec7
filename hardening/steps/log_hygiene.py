"""Step h007_log_hygiene: bind parameters (keys, plaintexts) never reach the server log, errors
included (``log_parameter_max_length[_on_error] = 0`` for the database)."""

from __future__ import annotations

from hardening import ops

VALUES = {"log_parameter_max_length": "0", "log_parameter_max_length_on_error": "0"}


def upgrade(step: str) -> None:
    ops.require(step, "database_owner")
    ops.require_settable(step, VALUES)
    for name, value in VALUES.items():
        ops.set_database_setting(step, name, value)


def downgrade(step: str) -> None:
    ops.undo(step)
