"""A test's revision after the kit's head: it replaces hardening.grant_privilege the way a later
kit revision fixes a function of a released one, and its downgrade puts h001's body back."""

from pathlib import Path

from hardening import ops, steps

revision = "t001_replace_grant_privilege"
down_revision = steps.STEPS[-1].id
branch_labels = None
depends_on = None

FUNCTION = "hardening.grant_privilege(text, text, text, text, text, text)"
NEW = Path(__file__).with_name("grant_privilege.sql")
OLD = "h001_state/grant_privilege.sql"


def upgrade() -> None:
    ops.replace_function(revision, FUNCTION, NEW, OLD)


def downgrade() -> None:
    ops.replace_function(revision, FUNCTION, OLD, NEW)
