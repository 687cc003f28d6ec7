"""pg-hardening: PUBLIC loses CREATE on schema public and TEMP/CONNECT on the database; NOLOGIN
read-only and read-write group roles with default privileges.

Revision ID: h004_least_privilege
Revises: h003_password_policy
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h004_least_privilege"
down_revision = "h003_password_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.apply_least_privilege(revision)


def downgrade() -> None:
    ops.undo(revision)
