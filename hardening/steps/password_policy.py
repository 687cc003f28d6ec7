"""Step h003_password_policy: SCRAM for new passwords in this database, the policy and history
tables (``sql/migrations/h003_password_policy/``), and the NOLOGIN password-admin role whose
members may use them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hardening import ops
from hardening.steps.values import int_setting, role_setting


def upgrade(step: str) -> None:
    """The policy from the password_* settings; the admin role (CREATEROLE unless it exists)
    gets exactly what ``hardening passwd`` needs.

    Args:
        step: the revision id (``h003_password_policy``) its changes are recorded under.

    Example::

        steps.get("h003_password_policy").upgrade()  # what its revision's upgrade() runs
    """
    values = {
        "min_length": int_setting("password_min_length", 8, 1024),
        "max_age_days": int_setting("password_max_age_days", 0, 36500),
        "history_depth": int_setting("password_history_depth", 0, 100),
        "min_strength": int_setting("password_min_strength", 0, 4),
    }
    admin = role_setting("password_admin_role")
    ops.require(step, "database_owner")
    ops.ensure_role(step, admin, "password_admin_role")
    ops.set_database_setting(step, "password_encryption", "scram-sha-256")
    ops.run_sql(f"{step}/tables.sql")
    columns = ", ".join(values)
    binds = ", ".join(f":{name}" for name in values)
    op.execute(
        sa.text(f"INSERT INTO hardening.password_policy ({columns}) VALUES ({binds})").bindparams(
            **values
        )
    )
    ops.grant(step, "CONNECT", "database", "", "", admin)  # h004 takes CONNECT from PUBLIC
    ops.grant(step, "USAGE", "schema", "hardening", "", admin)
    ops.grant(step, "SELECT", "table", "hardening", "password_policy", admin)
    for privilege in ("SELECT", "INSERT", "DELETE"):  # the identity column needs no sequence
        ops.grant(step, privilege, "table", "hardening", "password_history", admin)


def downgrade(step: str) -> None:
    """Undo what the upgrade recorded (its grants name the tables), then drop the tables.

    Args:
        step: the revision id (``h003_password_policy``) its changes are recorded under.

    Example::

        steps.get("h003_password_policy").downgrade()  # what its revision's downgrade() runs
    """
    ops.undo(step)  # first: its grants name the tables dropped next
    ops.run_sql(f"{step}/drop_tables.sql")
