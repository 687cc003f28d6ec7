"""Audit reads of users through pgaudit's object-audit role (an app revision using hardening.ops).

Revision ID: a002_audit_users
Revises: a001_users
Create Date: 2026-11-29
"""

from hardening import ops
from hardening.steps import values

revision = "a002_audit_users"
down_revision = "a001_users"
branch_labels = None
depends_on = "h006_audit_roles"


def upgrade() -> None:
    ops.grant(revision, "SELECT", "table", "public", "users", values.role_setting("audit_role"))


def downgrade() -> None:
    ops.undo(revision)
