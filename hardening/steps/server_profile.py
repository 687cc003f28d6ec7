"""Step h008_server_profile: logging and TLS with ALTER SYSTEM + reload, for a superuser on a
self-managed server; off unless setting server_profile is on. ALTER SYSTEM is cluster-wide and
cannot run in a transaction, which shapes everything here.

``check_server_profile`` (called by env.py through ``hardening.migrate``) refuses a
server_profile setting that the applied step did not follow."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from hardening import ops, settings, sqlfiles, steps
from hardening.ops import StepError, refuse_if
from hardening.profile import wanted
from hardening.steps import system
from hardening.steps.values import BOOLEANS, choice_setting, command, setting

STEP = steps.named("server_profile")
# The steps that set the server profile with ALTER SYSTEM, in order (check_server_profile).
PROFILE_STEPS = ("server_profile", "server_settings")
# The parameters the profile sets (hardening.profile.wanted); names from hardening.applied
# become SQL text only if listed.
SERVER_PROFILE_PARAMETERS = tuple(w.name for w in wanted.of_step("server_profile"))
# parameter -> the kit setting its value comes from (the others are fixed)
SERVER_PROFILE_FROM = {w.name: w.setting for w in wanted.of_step("server_profile") if w.setting}
# Profile values judged by running verify's own control (sql/checks/<parameter>.sql, which reads
# pg_settings) on the value; log_line_prefix is judged by LOG_LINE_PREFIX_NEEDS, tested equal.
SERVER_PROFILE_VERIFIED = ("log_statement", "ssl_min_protocol_version")
# What a log line must say, and its rule (hardening.profile.wanted, shared with the command).
LOG_LINE_PREFIX_NEEDS = wanted.LOG_LINE_PREFIX_NEEDS
log_line_prefix_missing = wanted.log_line_prefix_missing


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
    values = {w.name: w.value_from(setting) for w in wanted.of_step("server_profile")}
    values["log_line_prefix"] = _log_line_prefix_setting()
    return values


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
    system.write(step, values, SERVER_PROFILE_PARAMETERS)


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
    applied = {
        script.revision
        for head in migration.get_current_heads()
        for script in migration.script.iterate_revisions(head, "base")
    }
    asked = choice_setting("server_profile", BOOLEANS)
    x_args: dict[str, str] = context.get_x_argument(as_dictionary=True)
    if asked == "off" and not settings.given("server_profile", x_args):
        return
    heads = "heads" if len(migration.script.get_heads()) > 1 else "head"  # the kit as a branch
    for step in (steps.named(name) for name in PROFILE_STEPS):
        if step.id not in applied:
            continue
        profile_set = connection.execute(
            sa.text(
                "SELECT EXISTS (SELECT FROM hardening.applied "
                "WHERE step = :step AND kind = 'system_setting')"
            ).bindparams(step=step.id)
        ).scalar()
        redo = (
            f"{command('downgrade', str(step.down_revision))}, then "
            f"{command('upgrade', heads, [f'server_profile={asked}'])}"
        )
        if asked == "on" and not profile_set:
            raise StepError(
                f"pg-hardening: server_profile=on, but step {step.id} was applied "
                "earlier with server_profile=off, so the server profile is not set (alembic does "
                f"not run an applied step again). To set it: {redo}"
            )
        if asked == "off" and profile_set:
            raise StepError(
                f"pg-hardening: server_profile=off, but step {step.id} set the server "
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
    system.downgrade(step, SERVER_PROFILE_PARAMETERS)
