"""Step h006_audit_roles: the object-audit role (pgaudit.role) with its per-table grants from
setting audit_tables, and the audit reader.

Needs database ownership, SET on pgaudit.role, CREATEROLE for roles that do not exist yet,
ownership (or the grant option) of each audited table, and ADMIN OPTION on
pg_read_all_settings; each is checked where it is used, with a message naming the fix."""

from __future__ import annotations

from hardening import ops
from hardening.steps.values import audit_grants, role_setting


def upgrade(step: str) -> None:
    """The audit role as pgaudit.role with the grants of audit_tables, then the reader.

    Args:
        step: the revision id (``h006_audit_roles``) its changes are recorded under.

    Example::

        steps.get("h006_audit_roles").upgrade()  # what its revision's upgrade() runs
    """
    auditor, reader = role_setting("audit_role"), role_setting("audit_reader_role")
    grants = audit_grants()
    ops.require(step, "database_owner")
    ops.require_settable(step, {"pgaudit.role": auditor})
    ops.ensure_role(step, auditor, "audit_role")
    ops.set_database_setting(step, "pgaudit.role", auditor)
    for item in grants:
        for privilege in item.privileges:
            ops.grant(step, privilege, "table", item.schema, item.table, auditor)
    ops.ensure_role(step, reader, "audit_reader_role")
    ops.grant_role(step, "pg_read_all_settings", reader)
    ops.grant(step, "CONNECT", "database", "", "", reader)
    ops.grant(step, "USAGE", "schema", "hardening", "", reader)
    for view in ("database_settings", "password_policy", "applied"):
        ops.grant(step, "SELECT", "table", "hardening", view, reader)


def downgrade(step: str) -> None:
    """Undo everything the upgrade recorded, newest first (``ops.undo``).

    Args:
        step: the revision id (``h006_audit_roles``) its changes are recorded under.

    Example::

        steps.get("h006_audit_roles").downgrade()  # what its revision's downgrade() runs
    """
    ops.undo(step)
