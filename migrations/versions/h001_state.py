"""pg-hardening: the hardening schema: state table (prior state for downgrade) and the functions
the steps call.

Revision ID: h001_state
Revises: h000_base
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h001_state"
down_revision = "h000_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.install_state()


def downgrade() -> None:
    ops.remove_state()
