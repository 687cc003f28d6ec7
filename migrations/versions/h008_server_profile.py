"""pg-hardening: server profile (off unless server_profile=on): logging and TLS settings with ALTER
SYSTEM + reload for a superuser on a self-managed server; downgrade restores the prior values.

Revision ID: h008_server_profile
Revises: h007_log_hygiene
Create Date: 2026-11-29
"""

from hardening import ops

revision = "h008_server_profile"
down_revision = "h007_log_hygiene"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ops.apply_server_profile(revision)


def downgrade() -> None:
    ops.remove_server_profile(revision)
