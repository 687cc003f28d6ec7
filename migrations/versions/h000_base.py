"""pg-hardening: start of the hardening branch.

Revision ID: h000_base
Revises:
Create Date: 2026-11-29
"""

revision = "h000_base"
down_revision = None
branch_labels = ("hardening",)
depends_on = None


def upgrade() -> None:
    """Nothing: the branch's root, so applications can depend on ``hardening@h000_base``."""


def downgrade() -> None:
    """Nothing to undo."""
