"""ALTER SYSTEM for the server-profile steps (``h008_server_profile`` and the steps that extend
it): cluster-wide, outside any transaction, so each step checks every value first, records
the prior ``postgresql.auto.conf`` values in its transaction, then writes them in an
autocommit block; a failure midway puts back what it had written. Downgrade puts back the
recorded values (or RESETs them) and reloads.

Parameter names reach SQL text only from a step's own constant list (``allowed``): the names
read back from ``hardening.applied`` are checked against it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NoReturn

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.exc import DBAPIError

from hardening import ops
from hardening.ops import StepError
from hardening.profile.wanted import LISTS, list_items

Prior = list[tuple[str, str | None]]
__all__ = [
    "LISTS",
    "alter_system",
    "downgrade",
    "forget",
    "list_items",
    "put_back",
    "recorded",
    "restore",
    "write",
]


def alter_system(name: str, value: str, allowed: Collection[str]) -> sa.TextClause:
    """``ALTER SYSTEM SET name = 'value'``: utility statements take no bind parameters, so the
    value is rendered as a quoted literal (one per element for a list parameter such as
    ``shared_preload_libraries``); ``name`` must be one of ``allowed``.

    Args:
        name: the parameter.
        value: its value, as ALTER SYSTEM takes it.
        allowed: the step's parameter names.

    Example::

        op.execute(alter_system("log_connections", "on", PARAMETERS))
    """
    if name not in allowed:
        raise StepError(f"hardening.applied records an unknown setting {name!r}")
    items = list_items(value) if name in LISTS else [value]
    literals = [
        sa.bindparam(f"value{i}", item, type_=sa.Text, literal_execute=True)
        for i, item in enumerate(items or [""])
    ]
    listed = ", ".join(f":{literal.key}" for literal in literals)
    return sa.text(f"ALTER SYSTEM SET {name} = {listed}").bindparams(*literals)


def recorded(step: str) -> Prior:
    """(parameter, its recorded prior ALTER SYSTEM value or None), newest record first.

    Args:
        step: the step whose records to read.

    Example::

        prior = recorded("h008_server_profile")
    """
    rows = op.get_bind().execute(
        sa.text(
            "SELECT target->>'setting', prior->>'value' FROM hardening.applied "
            "WHERE step = :step AND kind = 'system_setting' ORDER BY seq DESC"
        ).bindparams(step=step)
    )
    return [(str(name), value) for name, value in rows]


def put_back(prior: Prior, allowed: Collection[str]) -> None:
    """Inside an autocommit block: each parameter back to its prior value (or RESET), reload.

    Args:
        prior: what ``recorded`` returned (or the part of it to put back).
        allowed: the step's parameter names.

    Example::

        with op.get_context().autocommit_block():
            put_back(recorded(step), PARAMETERS)
    """
    for name, value in prior:
        if value is None:
            if name not in allowed:
                raise StepError(f"hardening.applied records an unknown setting {name!r}")
            op.execute(sa.text(f"ALTER SYSTEM RESET {name}"))
        else:
            op.execute(alter_system(name, value, allowed))
    op.execute(sa.text("SELECT pg_reload_conf()"))


def forget(step: str, names: Collection[str] = ()) -> None:
    """Remove the step's ``system_setting`` records (only those of ``names``, when given).

    Args:
        step: the step whose records to remove.
        names: the parameters whose records go; empty for all of them.

    Example::

        forget(step, ["ssl"])
    """
    statement = "DELETE FROM hardening.applied WHERE step = :step AND kind = 'system_setting'"
    values: dict[str, object] = {"step": step}
    if names:
        statement += " AND target->>'setting' = ANY (CAST(:names AS text[]))"
        values["names"] = list(names)
    op.execute(sa.text(statement).bindparams(**values))


def write(step: str, values: Mapping[str, str], allowed: Collection[str]) -> None:
    """ALTER SYSTEM each of ``values`` in an autocommit block (which commits the run up to
    here), then reload. Should one fail, those before it are put back and the step's records
    removed, and the run stops with the server's reason. Offline (``--sql``) the statements
    and the reload are rendered as they are, with nothing to put back.

    Args:
        step: the step (its records must be written before).
        values: parameter -> value.
        allowed: the step's parameter names.

    Example::

        write(step, {"log_connections": "on"}, PARAMETERS)
    """
    if context.is_offline_mode():
        with op.get_context().autocommit_block():
            for name, value in values.items():
                op.execute(alter_system(name, value, allowed))
            op.execute(sa.text("SELECT pg_reload_conf()"))
        return
    prior = recorded(step)
    with op.get_context().autocommit_block():
        applied: set[str] = set()
        for name, value in values.items():
            try:
                op.execute(alter_system(name, value, allowed))
            except DBAPIError as exc:
                _abandon(step, name, exc, [p for p in prior if p[0] in applied], allowed)
            applied.add(name)
        op.execute(sa.text("SELECT pg_reload_conf()"))


def restore(step: str, allowed: Collection[str]) -> None:
    """A downgrade: put back the recorded values (or RESET them), reload, forget the records.

    Args:
        step: the step to undo.
        allowed: the step's parameter names.

    Example::

        restore("h008_server_profile", PARAMETERS)
    """
    prior = recorded(step)
    if not prior:
        return
    with op.get_context().autocommit_block():
        put_back(prior, allowed)
    forget(step)


def downgrade(step: str, allowed: Collection[str]) -> None:
    """A profile step's downgrade: ``restore`` online; offline (SQL cannot ALTER SYSTEM in a
    transaction) ``hardening.undo`` refuses with a message if the step wrote anything, and does
    nothing otherwise.

    Args:
        step: the step to undo.
        allowed: the step's parameter names.

    Example::

        downgrade("h008_server_profile", PARAMETERS)
    """
    if context.is_offline_mode():
        ops.undo(step)
        return
    restore(step, allowed)


def _abandon(
    step: str, failed: str, exc: DBAPIError, applied: Prior, allowed: Collection[str]
) -> NoReturn:
    """An ALTER SYSTEM failed after the run was committed: put back what the step changed,
    forget the step's records, and stop with the server's reason."""
    reason = server_message(exc)
    try:
        put_back(applied, allowed)
        forget(step)
    except DBAPIError as again:
        raise StepError(
            f"pg-hardening: step {step} stopped at ALTER SYSTEM SET {failed} ({reason}), and "
            f"putting back the settings it had changed failed too ({server_message(again)}): "
            f"check postgresql.auto.conf (ALTER SYSTEM RESET ...), then "
            f"DELETE FROM hardening.applied WHERE step = '{step}'"
        ) from exc
    raise StepError(
        f"pg-hardening: step {step} stopped at ALTER SYSTEM SET {failed}: {reason}. "
        "The settings it had changed are back as they were and the step is not recorded; the "
        "steps before it stay applied (ALTER SYSTEM cannot run in a transaction, so the run was "
        "committed up to this step). Fix the cause and run the upgrade with server_profile=on "
        "again"
    ) from exc


def server_message(exc: DBAPIError) -> str:
    """The server's primary message of ``exc`` (one line, no statement, no parameters).

    Args:
        exc: a driver error SQLAlchemy raised.

    Example::

        reason = server_message(exc)
    """
    diag = getattr(exc.orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return str(primary or str(exc.orig).splitlines()[0])
