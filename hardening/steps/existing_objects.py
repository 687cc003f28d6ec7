"""Step h009_existing_objects: the group roles of h004 get on the tables, views and sequences
that already exist in app_schema what its default privileges give the ones created later, so
that adopting the kit into an application at head works like a fresh database whatever branch
alembic runs first (``sql/migrations/h009_existing_objects/``). Setting grant_existing=off
leaves existing objects to grants of your own."""

from __future__ import annotations

from hardening import ops, steps
from hardening.steps.values import BOOLEANS, choice_setting

FUNCTIONS = ("default_privilege_objects.sql", "grant_existing.sql", "revoke_public.sql")


def upgrade(step: str) -> None:
    """Install the step's two functions, then grant (and record) what is missing, unless
    grant_existing=off.

    Args:
        step: the revision id (``h009_existing_objects``) its changes are recorded under.

    Example::

        steps.get("h009_existing_objects").upgrade()  # what its revision's upgrade() runs
    """
    grant = choice_setting("grant_existing", BOOLEANS) == "on"
    for name in FUNCTIONS:
        ops.run_sql(f"{step}/{name}")
    if grant:
        ops.call("grant_existing", step, steps.named("least_privilege").id)


def downgrade(step: str) -> None:
    """Revoke exactly what the upgrade granted (on the objects that still exist), then drop the
    step's functions.

    Args:
        step: the revision id (``h009_existing_objects``) its changes are recorded under.

    Example::

        steps.get("h009_existing_objects").downgrade()  # what its revision's downgrade() runs
    """
    ops.run_sql(f"{step}/forget_dropped.sql")
    ops.undo(step)
    ops.run_sql(f"{step}/drop_functions.sql")
