"""Kit revision h011_server_settings: everything comes from its step in hardening.steps."""

from hardening import steps

step = steps.get("h011_server_settings")
__doc__ = step.title  # what alembic history shows
revision = step.id
down_revision = step.down_revision
branch_labels = step.branch_labels
depends_on = None
upgrade = step.upgrade
downgrade = step.downgrade
