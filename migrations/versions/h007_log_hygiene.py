"""pg-hardening: bind parameters never reach the server log (log_parameter_max_length[_on_error] =
0).

Revision ID: h007_log_hygiene
Revises: h006_audit_roles
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h007_log_hygiene"
down_revision = "h006_audit_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.tame_parameter_logging(revision)


def downgrade() -> None:
    ops.undo(revision)
