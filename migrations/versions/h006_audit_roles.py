"""pg-hardening: NOLOGIN object-audit role as pgaudit.role with per-table audit grants; NOLOGIN
audit-reader role.

Revision ID: h006_audit_roles
Revises: h005_pgaudit
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h006_audit_roles"
down_revision = "h005_pgaudit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.create_audit_roles(revision)


def downgrade() -> None:
    ops.undo(revision)
