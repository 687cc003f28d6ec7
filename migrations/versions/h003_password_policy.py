"""pg-hardening: password_encryption = scram-sha-256 for the database; password policy and reuse-
history tables.

Revision ID: h003_password_policy
Revises: h002_pgcrypto
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h003_password_policy"
down_revision = "h002_pgcrypto"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.install_password_policy(revision)


def downgrade() -> None:
    ops.remove_password_policy(revision)
