"""Step h005_pgaudit: preflight (pgaudit preloaded, database owner, may set the pgaudit
parameters), the extension (created unless it exists: by a superuser, as pgaudit is not
trusted), then the session-audit settings of the database.

No superuser is needed otherwise: a database owner granted SET on the parameters can apply it
to a database where pgaudit exists."""

from __future__ import annotations

from hardening import ops
from hardening.steps.values import BOOLEANS, LOG_LEVELS, audit_classes, choice_setting


def upgrade(step: str) -> None:
    """Every setting checked and the preflight passed before the extension and settings.

    Args:
        step: the revision id (``h005_pgaudit``) its changes are recorded under.

    Example::

        steps.get("h005_pgaudit").upgrade()  # what its revision's upgrade() runs
    """
    values = {
        "pgaudit.log": audit_classes(),
        "pgaudit.log_catalog": choice_setting("audit_log_catalog", BOOLEANS),
        "pgaudit.log_parameter": choice_setting("audit_log_parameter", BOOLEANS),
        "pgaudit.log_relation": choice_setting("audit_log_relation", BOOLEANS),
        "pgaudit.log_statement_once": choice_setting("audit_log_statement_once", BOOLEANS),
        "pgaudit.log_level": choice_setting("audit_log_level", LOG_LEVELS),
        "pgaudit.log_client": choice_setting("audit_log_client", BOOLEANS),
    }
    ops.require_pgaudit_loaded(step)
    ops.require(step, "database_owner")
    ops.require_settable(step, values)
    ops.ensure_extension(step, "pgaudit", "public")
    for name, value in values.items():
        ops.set_database_setting(step, name, value)


def downgrade(step: str) -> None:
    """Undo everything the upgrade recorded, newest first (``ops.undo``).

    Args:
        step: the revision id (``h005_pgaudit``) its changes are recorded under.

    Example::

        steps.get("h005_pgaudit").downgrade()  # what its revision's downgrade() runs
    """
    ops.undo(step)
