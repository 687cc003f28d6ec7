"""Step h008_server_profile: logging and TLS with ALTER SYSTEM + reload, for a superuser on a
self-managed server; off unless setting server_profile is on. ALTER SYSTEM is cluster-wide and
cannot run in a transaction, which shapes everything here.

``check_server_profile`` (called by env.py through ``hardening.migrate``) refuses a
server_profile setting that the applied step did not follow."""

from __future__ import annotations

import re
from typing import NoReturn

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.exc import DBAPIError

from hardening import ops, settings, sqlfiles, steps
from hardening.ops import StepError, refuse_if
from hardening.steps.values import BOOLEANS, choice_setting, command, setting

STEP = steps.named("server_profile")
# The parameters the profile sets; names from hardening.applied become SQL text only if listed.
SERVER_PROFILE_PARAMETERS = (
    "log_connections",
    "log_disconnections",
    "log_line_prefix",
    "log_statement",
    "log_lock_waits",
    "log_min_error_statement",
    "password_encryption",
    "ssl_min_protocol_version",
)
# parameter -> the kit setting its value comes from (the others are fixed)
SERVER_PROFILE_FROM = {
    "log_line_prefix": "server_log_line_prefix",
    "log_statement": "server_log_statement",
    "ssl_min_protocol_version": "server_ssl_min_protocol_version",
}
# Profile values judged by running verify's own control (sql/checks/<parameter>.sql, which reads
# pg_settings) on the value; log_line_prefix is judged by LOG_LINE_PREFIX_NEEDS, tested equal.
SERVER_PROFILE_VERIFIED = ("log_statement", "ssl_min_protocol_version")
# What a log line must say, as `hardening verify` checks it (sql/checks/log_line_prefix.sql):
# (what, the log_line_prefix escapes that record it).
LOG_LINE_PREFIX_NEEDS = (
    ("time", ("%m", "%t", "%n")),
    ("process or session id", ("%p", "%c")),
    ("user", ("%u",)),
    ("database", ("%d",)),
    ("client address", ("%h", "%r")),
)


def _escapes(prefix: str) -> set[str]:
    """The escapes PostgreSQL expands in ``prefix`` (``%%`` is a literal percent sign, and
    ``%-10u`` pads ``%u``)."""
    return {f"%{m.group(1)}" for m in re.finditer(r"%-?\d*(.)", prefix, re.DOTALL)} - {"%%"}


def log_line_prefix_missing(prefix: str) -> list[str]:
    """What a log line with ``prefix`` would not say; empty if nothing is missing. The rule of
    the verify control log_line_prefix (a test holds the two equal).

    Args:
        prefix: a ``log_line_prefix`` value.

    Example::

        log_line_prefix_missing("%m [%p] %d %h ")  # ['user (%u)']
    """
    found = _escapes(prefix)
    return [
        f"{what} ({' or '.join(escapes)})"
        for what, escapes in LOG_LINE_PREFIX_NEEDS
        if not found.intersection(escapes)
    ]


def _log_line_prefix_setting() -> str:
    """Setting server_log_line_prefix, refused unless every line says when, which session,
    who, in which database and from where (the verify control log_line_prefix)."""
    prefix = setting("server_log_line_prefix")
    missing = log_line_prefix_missing(prefix)
    if missing:
        wanted = ", ".join(f"{what} ({' or '.join(e)})" for what, e in LOG_LINE_PREFIX_NEEDS)
        raise StepError(
            f"setting server_log_line_prefix is {prefix!r}; log_line_prefix must record {wanted} "
            f"(the verify control log_line_prefix); missing: {', '.join(missing)}"
        )
    return prefix


def _refuse_unverified(step: str, parameter: str, value: str) -> None:
    """Stop the run if `hardening verify`'s control ``parameter`` would fail ``value``: its
    query (``sql/checks/<parameter>.sql``) runs with ``pg_settings`` showing ``value`` as the
    server would after ALTER SYSTEM (an enum in the server's spelling)."""
    from hardening.verify.controls import CONTROLS

    control = next(c for c in CONTROLS if c.id == parameter)
    check = sqlfiles.load(f"checks/{parameter}.sql").strip().rstrip(";")
    source = SERVER_PROFILE_FROM[parameter]
    refuse_if(
        "(SELECT c.ok FROM (WITH pg_settings (name, setting, source) AS ("
        "SELECT p.name, coalesce((SELECT v FROM unnest(p.enumvals) AS v "
        "WHERE lower(v) = lower(:value)), :value), 'configuration file' "
        "FROM pg_catalog.pg_settings AS p WHERE p.name = :parameter)\n"
        f"{check}\n) AS c) IS FALSE",
        f"pg-hardening: step {step}: setting {source} is {value!r}, and the verify control "
        f"{control.id} requires that {control.title}: {control.rationale}",
        f"pass -x {source}=... with a value it passes (default "
        f"{settings.SETTINGS[source].default}); nothing was changed",
        "invalid_parameter_value",
        value=value,
        parameter=parameter,
    )


def _profile_settings() -> dict[str, str]:
    """What the server profile sets with ALTER SYSTEM; the values of kit settings are checked
    by the server in the step (``hardening.check_system_setting``) before anything is changed."""
    return {
        "log_connections": "on",
        "log_disconnections": "on",
        "log_line_prefix": _log_line_prefix_setting(),
        "log_statement": setting("server_log_statement").strip(),
        "log_lock_waits": "on",
        "log_min_error_statement": "error",
        "password_encryption": "scram-sha-256",
        "ssl_min_protocol_version": setting("server_ssl_min_protocol_version").strip(),
    }


def upgrade(step: str) -> None:
    """Logging and TLS with ALTER SYSTEM + reload, for a superuser on a self-managed server.

    Every value is checked by the server and the prior values in postgresql.auto.conf are
    recorded (in this run's transaction) before an autocommit block runs ALTER SYSTEM, which
    cannot run inside a transaction: the block commits the run up to here. Should an ALTER
    SYSTEM still fail there, the ones before it are put back and the step's records removed, so
    the database stays at the previous revision with nothing of this step applied. Refused
    where ALTER SYSTEM is not allowed (managed services, allow_alter_system = off).

    Args:
        step: the revision id (``h008_server_profile``) its changes are recorded under.

    Example::

        steps.get("h008_server_profile").upgrade()  # what its revision's upgrade() runs
    """
    if choice_setting("server_profile", BOOLEANS) != "on":
        return
    values = _profile_settings()
    ops.require(step, "superuser")
    ops.run_sql(f"{step}/alter_system_allowed.sql")
    for name, value in values.items():
        ops.call("check_system_setting", step, name, value, SERVER_PROFILE_FROM.get(name, ""))
    for name in SERVER_PROFILE_VERIFIED:
        _refuse_unverified(step, name, values[name])
    for name in values:
        ops.call("record_system_setting", step, name)
    if context.is_offline_mode():
        with op.get_context().autocommit_block():
            for name, value in values.items():
                op.execute(_alter_system(name, value))
            op.execute(sa.text("SELECT pg_reload_conf()"))
        return
    prior = _recorded_system_settings(step)
    with op.get_context().autocommit_block():
        applied: set[str] = set()
        for name, value in values.items():
            try:
                op.execute(_alter_system(name, value))
            except DBAPIError as exc:
                _abandon_server_profile(step, name, exc, [p for p in prior if p[0] in applied])
            applied.add(name)
        op.execute(sa.text("SELECT pg_reload_conf()"))


def _alter_system(name: str, value: str) -> sa.TextClause:
    """ALTER SYSTEM SET name = 'value': utility statements take no bind parameters, so the
    value is rendered as a quoted literal; ``name`` is one of the profile's constant names."""
    if name not in SERVER_PROFILE_PARAMETERS:
        raise StepError(f"hardening.applied records an unknown setting {name!r}")
    literal = sa.bindparam("value", value, type_=sa.Text, literal_execute=True)
    return sa.text(f"ALTER SYSTEM SET {name} = :value").bindparams(literal)


def _recorded_system_settings(step: str) -> list[tuple[str, str | None]]:
    """(parameter, its recorded prior ALTER SYSTEM value or None), newest record first."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT target->>'setting', prior->>'value' FROM hardening.applied "
            "WHERE step = :step AND kind = 'system_setting' ORDER BY seq DESC"
        ).bindparams(step=step)
    )
    return [(str(name), value) for name, value in rows]


def _put_back_system_settings(prior: list[tuple[str, str | None]]) -> None:
    """Inside an autocommit block: each parameter back to its prior value (or RESET), reload."""
    for name, value in prior:
        if value is None:
            if name not in SERVER_PROFILE_PARAMETERS:
                raise StepError(f"hardening.applied records an unknown setting {name!r}")
            op.execute(sa.text(f"ALTER SYSTEM RESET {name}"))
        else:
            op.execute(_alter_system(name, value))
    op.execute(sa.text("SELECT pg_reload_conf()"))


def _forget_system_settings(step: str) -> None:
    op.execute(
        sa.text(
            "DELETE FROM hardening.applied WHERE step = :step AND kind = 'system_setting'"
        ).bindparams(step=step)
    )


def _abandon_server_profile(
    step: str, failed: str, exc: DBAPIError, applied: list[tuple[str, str | None]]
) -> NoReturn:
    """An ALTER SYSTEM failed after the run was committed: put back what the profile changed,
    forget the step's records, and stop with the server's reason."""
    reason = _server_message(exc)
    try:
        _put_back_system_settings(applied)
        _forget_system_settings(step)
    except DBAPIError as again:
        raise StepError(
            f"pg-hardening: step {step} stopped at ALTER SYSTEM SET {failed} ({reason}), and "
            f"putting back the settings it had changed failed too ({_server_message(again)}): "
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


def _server_message(exc: DBAPIError) -> str:
    diag = getattr(exc.orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return str(primary or str(exc.orig).splitlines()[0])


def check_server_profile() -> None:
    """Refuse what setting server_profile asks for if the applied step did not do it; env.py
    calls it (as ``hardening.migrate.check_server_profile``) after ``context.run_migrations()``,
    inside the run's transaction.

    Alembic never runs an applied step again, so without this check ``upgrade head -x
    server_profile=on`` on a database at head would do nothing, silently. ``server_profile=off``
    counts only when passed (-x or HARDENING_SERVER_PROFILE), since it is the default. Commands
    that change no revision (``alembic current``) are not checked.

    Example::

        with context.begin_transaction():
            context.run_migrations()
            hardening.migrate.check_server_profile()
    """
    if context.is_offline_mode():
        return
    migration = context.get_context()
    connection = migration.connection
    if "destination_rev" not in migration.opts or migration.script is None or connection is None:
        return
    if not any(
        script.revision == STEP.id
        for head in migration.get_current_heads()
        for script in migration.script.iterate_revisions(head, "base")
    ):
        return
    wanted = choice_setting("server_profile", BOOLEANS)
    x_args: dict[str, str] = context.get_x_argument(as_dictionary=True)
    if wanted == "off" and not settings.given("server_profile", x_args):
        return
    profile_set = connection.execute(
        sa.text(
            "SELECT EXISTS (SELECT FROM hardening.applied "
            "WHERE step = :step AND kind = 'system_setting')"
        ).bindparams(step=STEP.id)
    ).scalar()
    heads = "heads" if len(migration.script.get_heads()) > 1 else "head"  # the kit as a branch
    redo = (
        f"{command('downgrade', str(STEP.down_revision))}, then "
        f"{command('upgrade', heads, [f'server_profile={wanted}'])}"
    )
    if wanted == "on" and not profile_set:
        raise StepError(
            f"pg-hardening: server_profile=on, but step {STEP.id} was applied "
            "earlier with server_profile=off, so the server profile is not set (alembic does "
            f"not run an applied step again). To set it: {redo}"
        )
    if wanted == "off" and profile_set:
        raise StepError(
            f"pg-hardening: server_profile=off, but step {STEP.id} set the server "
            "profile (ALTER SYSTEM) earlier, and it stays set (alembic does not run an applied "
            f"step again). To remove it: {redo}"
        )


def downgrade(step: str) -> None:
    """Put back the recorded ALTER SYSTEM values (or RESET them), reload, forget the records.

    Args:
        step: the revision id (``h008_server_profile``) its changes are recorded under.

    Example::

        steps.get("h008_server_profile").downgrade()  # what its revision's downgrade() runs
    """
    if context.is_offline_mode():  # SQL cannot ALTER SYSTEM in a transaction: undo() refuses
        ops.undo(step)  # with a message if the profile was applied, and does nothing otherwise
        return
    prior = _recorded_system_settings(step)
    if not prior:
        return
    with op.get_context().autocommit_block():
        _put_back_system_settings(prior)
    _forget_system_settings(step)
