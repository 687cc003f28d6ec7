"""Step h001_state: the ``hardening`` schema, its table of records (``hardening.applied``) and
the functions the other steps call, from ``sql/migrations/h001_state/``."""

from __future__ import annotations

from hardening import ops

# The folder's files in the order the upgrade runs them: a LANGUAGE sql function's body is
# checked when it is created, so it comes after the functions it calls; kit_functions() names
# every function, so it comes last, before revoke_public.sql reads it.
UPGRADE = (
    "schema.sql",
    "owner_only.sql",
    "state_owner_only.sql",
    "require.sql",
    "record.sql",
    "require_pgaudit_loaded.sql",
    "ensure_extension.sql",
    "set_extension_function_cost.sql",
    "setting_reference.sql",
    "database_setting.sql",
    "require_settable.sql",
    "set_database_setting.sql",
    "kit_role_comment.sql",
    "created_by_kit.sql",
    "ensure_role.sql",
    "role_used_elsewhere.sql",
    "role_in_use.sql",
    "grant_role.sql",
    "object_reference.sql",
    "holds.sql",
    "privilege_keyword.sql",
    "grantee_reference.sql",
    "object_owner.sql",
    "may_grant.sql",
    "grant_privilege.sql",
    "revoke_privilege.sql",
    "holds_default.sql",
    "grant_default_privilege.sql",
    "check_system_setting.sql",
    "record_system_setting.sql",
    "undo.sql",
    "kit_functions.sql",
    "revoke_public.sql",
)
DOWNGRADE = "downgrade.sql"


def upgrade(step: str) -> None:
    """Create the ``hardening`` schema (unless it exists), ``hardening.applied`` and the
    functions.

    Args:
        step: the revision id (``h001_state``) its changes are recorded under.

    Example::

        steps.get("h001_state").upgrade()  # what its revision's upgrade() runs
    """
    for name in UPGRADE:
        ops.run_sql(f"{step}/{name}")


def downgrade(step: str) -> None:
    """Drop what the upgrade created; the schema only if it created it.

    Args:
        step: the revision id (``h001_state``) its changes are recorded under.

    Example::

        steps.get("h001_state").downgrade()  # what its revision's downgrade() runs
    """
    ops.run_sql(f"{step}/{DOWNGRADE}")
