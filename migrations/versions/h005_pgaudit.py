"""pg-hardening: pgaudit preflight (preloaded? may the role set its parameters?), the extension,
session-audit settings for the database.

Revision ID: h005_pgaudit
Revises: h004_least_privilege
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h005_pgaudit"
down_revision = "h004_least_privilege"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.enable_pgaudit(revision)


def downgrade() -> None:
    ops.undo(revision)
