"""pg-hardening: pgcrypto in schema pgcrypto_schema, created if missing; downgrade drops it only if
this step created it.

Revision ID: h002_pgcrypto
Revises: h001_state
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h002_pgcrypto"
down_revision = "h001_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.enable_pgcrypto(revision)


def downgrade() -> None:
    ops.undo(revision)
