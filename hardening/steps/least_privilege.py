"""Step h004_least_privilege: PUBLIC loses CREATE on schema public and TEMP/CONNECT on the
database; read-only and read-write NOLOGIN group roles get default privileges on future tables
in setting app_schema."""

from __future__ import annotations

from hardening import ops
from hardening.steps.values import role_setting, setting


def upgrade(step: str) -> None:
    """Refuses a missing app_schema or table_owner_role before anything changes.

    Args:
        step: the revision id (``h004_least_privilege``) its changes are recorded under.

    Example::

        steps.get("h004_least_privilege").upgrade()  # what its revision's upgrade() runs
    """
    schema = setting("app_schema")
    readonly, readwrite = role_setting("readonly_role"), role_setting("readwrite_role")
    owner = setting("table_owner_role")  # empty: the migrating role
    ops.refuse_if(
        "NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = :schema)",
        f"pg-hardening: setting app_schema names schema {schema}, which does not exist",
        "create it first, or pass -x app_schema=... naming the schema of the application's "
        "tables (default public); nothing was changed",
        "invalid_schema_name",
        schema=schema,
    )
    if owner:
        ops.refuse_if(
            "NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :role)",
            f"pg-hardening: setting table_owner_role names role {owner}, which does not exist",
            "pass -x table_owner_role=... naming the role that creates the application's tables, "
            "or leave it out (the role running the migration); nothing was changed",
            "undefined_object",
            role=owner,
        )
    ops.require(step, "database_owner", "createrole")
    ops.revoke(step, "CREATE", "schema", "public", "", "PUBLIC")
    ops.revoke(step, "TEMPORARY", "database", "", "", "PUBLIC")
    ops.revoke(step, "CONNECT", "database", "", "", "PUBLIC")
    for role, setting_name in ((readonly, "readonly_role"), (readwrite, "readwrite_role")):
        ops.ensure_role(step, role, setting_name)
        ops.grant(step, "CONNECT", "database", "", "", role)
        ops.grant(step, "USAGE", "schema", schema, "", role)
    ops.grant_default(step, "SELECT", "TABLES", schema, readonly, owner)
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        ops.grant_default(step, privilege, "TABLES", schema, readwrite, owner)
    for privilege in ("USAGE", "SELECT"):
        ops.grant_default(step, privilege, "SEQUENCES", schema, readwrite, owner)


def downgrade(step: str) -> None:
    """First revoke what the default privileges gave the roles this step created on the
    relations created since (``revoke_default_grants.sql``: without it, those grants keep the
    roles from being dropped while the application's tables stay), then undo everything the
    upgrade recorded, newest first (``ops.undo``).

    Args:
        step: the revision id (``h004_least_privilege``) its changes are recorded under.

    Example::

        steps.get("h004_least_privilege").downgrade()  # what its revision's downgrade() runs
    """
    ops.run_sql(f"{step}/revoke_default_grants.sql")
    ops.undo(step)
