"""Run the catalogue over one plain SQL connection: each control in its own savepoint, so a
query the role may not run (permission denied) becomes a ``skip`` and never stops the run.
On a managed service (``hardening.verify.platforms``) a control the service makes impossible
or does itself becomes ``not_applicable``, naming the service's own control instead.

Example::

    from hardening.verify.runner import run
    report = run("postgresql://auditor@db/app", scope="server", skip=["hba_external_auth"])
    report.exit_code          # 1 when a selected control failed
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from hardening import settings, sqlfiles
from hardening.errors import HardeningError, SettingsError, VerifyError
from hardening.verify import platforms
from hardening.verify.controls import CONTROLS, PROBES
from hardening.verify.model import Control, Platform, Report, Result, Status, Stopwatch

CONNECT_TIMEOUT = 10  # seconds
STATEMENT_TIMEOUT = "10s"  # per control query
EVIDENCE_ROWS = 50  # rows kept per control


def select(
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    scope: str = "all",
    probe: bool = False,
) -> list[Control]:
    """The controls a run evaluates, in catalogue order; VerifyError for an unknown id or a
    selection that leaves none.

    Args:
        only: control ids to run (probes included); empty means every control.
        skip: control ids to leave out.
        scope: ``kit``, ``server`` or ``all``.
        probe: include the active probes (``--probe``); a probe named in ``only`` is included
            anyway.

    Example::

        select(scope="kit", skip=["pgaudit_log_relation"])
    """
    only_ids, skip_ids = set(only), set(skip)
    catalog = CONTROLS + PROBES
    known = {c.id for c in catalog}
    unknown = sorted((only_ids | skip_ids) - known)
    if unknown:
        raise VerifyError(
            f"unknown control id(s): {', '.join(unknown)} (see `hardening verify --list`)"
        )
    if scope not in ("all", "kit", "server"):
        raise VerifyError(f"unknown scope {scope!r}: expected kit, server or all")
    chosen = []
    for control in catalog:
        if only_ids and control.id not in only_ids:
            continue
        if not only_ids and control.probe and not probe:
            continue
        if control.id in skip_ids or (scope != "all" and control.scope != scope):
            continue
        chosen.append(control)
    if not chosen:
        raise VerifyError(_nothing_selected(only_ids, skip_ids, scope))
    return chosen


def _nothing_selected(only_ids: set[str], skip_ids: set[str], scope: str) -> str:
    """Why --only/--skip/--scope select no control: a run of nothing would pass."""

    def named(flag: str, ids: set[str]) -> str:
        listed = ",".join(sorted(ids)) if len(ids) <= 8 else f"<{len(ids)} ids>"
        return f"{flag} {listed}"

    given = [named(flag, ids) for flag, ids in (("--only", only_ids), ("--skip", skip_ids)) if ids]
    elsewhere = sorted(
        f"{c.id} is {c.scope}-scope"
        for c in CONTROLS + PROBES
        if c.id in only_ids - skip_ids and scope != "all" and c.scope != scope
    )
    because = f" ({'; '.join(elsewhere)})" if elsewhere else ""
    return f"no controls selected: {' '.join(given)} leaves none in --scope {scope}{because}"


def parse_url(url: URL | str | None) -> URL:
    """A psycopg SQLAlchemy URL from ``url`` or, when None, from DATABASE_URL; VerifyError when
    neither works.

    Args:
        url: a URL, a ``postgresql://`` string, or None.

    Example::

        parse_url("postgresql://app@db/app")   # postgresql+psycopg://app@db/app
    """
    try:
        if isinstance(url, URL):
            return url.set(drivername="postgresql+psycopg")
        parsed = settings.database_url({"url": url} if url else None)
    except SettingsError as exc:
        # settings names alembic's -x url=; verify takes --url.
        source = "(--url)" if url else "(DATABASE_URL)"
        raise VerifyError(str(exc).replace("(DATABASE_URL or -x url=...)", source)) from None
    if parsed is None:
        raise VerifyError("no database: pass --url postgresql://... or set DATABASE_URL")
    return parsed


def connect(url: URL) -> psycopg.Connection[Any]:
    """An autocommit connection; VerifyError with the server's reason, and no password,
    otherwise.

    Args:
        url: what ``parse_url`` returned.

    Example::

        with connect(parse_url(None)) as conn:
            platforms.detect(conn)
    """
    try:
        return psycopg.connect(
            settings.libpq_dsn(url), autocommit=True, connect_timeout=CONNECT_TIMEOUT
        )
    except psycopg.Error as exc:
        reason = _one_line(_first_causes(str(exc)), url)
        raise VerifyError(f"cannot connect to {settings.display_url(url)}: {reason}") from None


def _first_causes(text: str) -> str:
    """libpq's connection error without the clear-text retry's rejection.

    With sslmode=prefer (the default) libpq retries a failed TLS attempt without TLS; where
    pg_hba.conf requires hostssl that retry fails with "no pg_hba.conf entry ... no
    encryption" and hides the first attempt's cause (a wrong password). Attempts to other
    addresses are kept."""
    attempts = re.split(r"\n(?=connection to server )", text)
    servers: set[str] = set()
    kept = []
    for attempt in attempts:
        server = attempt.removeprefix("connection failed: ").split(" failed: ", 1)[0]
        if server in servers and "no pg_hba.conf entry" in attempt and "no encryption" in attempt:
            continue
        servers.add(server)
        kept.append(attempt)
    return "; ".join(kept)


def run(
    url: URL | str | None = None,
    *,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    scope: str = "all",
    probe: bool = False,
    x_args: Mapping[str, str] | None = None,
) -> Report:
    """Evaluate the selected controls against a database and return the report; VerifyError
    when it cannot run at all (no URL, no connection, a selection of nothing).

    Args:
        url: the database: a URL, a ``postgresql://`` string, or None for DATABASE_URL.
        only: control ids to run, as for ``select``.
        skip: control ids to leave out.
        scope: ``kit``, ``server`` or ``all``.
        probe: include the active probes.
        x_args: kit settings (``hardening.settings`` names) the kit's controls compare with,
            as ``alembic -x name=value`` gives them, e.g. ``{"audit_role": "auditor"}``.

    Example::

        report = run("postgresql://app@db/app", scope="kit")
        [r.control.id for r in report.failed]
    """
    chosen = select(only, skip, scope, probe)
    target = parse_url(url)
    clock = Stopwatch()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with connect(target) as conn:
        info = conn.execute(
            "SELECT current_database(), current_user, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
            "current_setting('server_version')"
        ).fetchone()
        assert info is not None
        report = Report(
            target=settings.display_url(target),
            database=str(info[0]),
            user=str(info[1]),
            superuser=bool(info[2]),
            server_version=str(info[3]),
            started_at=started,
            platform=platforms.detect(conn),
        )
        params = {name: settings.get(name, x_args) for name in settings.SETTINGS}
        queries = [c for c in chosen if not c.probe]
        probes = [c for c in chosen if c.probe]
        report.results.extend(_evaluate_all(conn, queries, params, report.platform))
        _mark_pending_restart(conn, report.results)
        if probes:
            from hardening.verify.probe import run_probes

            report.results.extend(run_probes(conn, probes, report))
    report.duration_ms = clock.ms()
    return report


class _Aborted(HardeningError):
    """A control's query failed and took the run's transaction with it (never leaves
    ``_evaluate_all``: it rolls the transaction back)."""


def _evaluate_all(
    conn: psycopg.Connection[Any],
    controls: Sequence[Control],
    params: Mapping[str, str],
    platform: Platform | None,
) -> list[Result]:
    """Every control in a read-only transaction, one round trip each (no savepoint): a query
    that fails (a ``skip``) aborts the transaction, which is rolled back, and the controls
    after it run in a fresh one."""
    results: list[Result] = []
    pending = list(controls)
    while pending:
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
                while pending:
                    results.append(evaluate(conn, pending.pop(0), params, platform, alone=True))
                    if conn.info.transaction_status is pq.TransactionStatus.INERROR:
                        raise _Aborted
        except _Aborted:
            continue
    return results


# Controls that judge a server setting under another name than their own id (controls made by
# controls._build.setting name theirs in their "settings" argument).
SETTING_OF = {"pgaudit_preloaded": ("shared_preload_libraries",)}


def _settings_of(control: Control) -> tuple[str, ...]:
    """The server settings ``control`` judges."""
    given = dict(control.args).get("settings")
    if isinstance(given, tuple):
        return tuple(str(name) for name in given)
    return SETTING_OF.get(control.id, (control.id,))


def _mark_pending_restart(conn: psycopg.Connection[Any], results: list[Result]) -> None:
    """A control whose setting waits for a restart (``pg_settings.pending_restart``: the
    configuration files say otherwise than the running server) fails, saying so: what the
    server runs with is not yet what was configured."""
    try:
        with conn.transaction():
            rows = conn.execute("SELECT name FROM pg_settings WHERE pending_restart").fetchall()
    except psycopg.Error:
        return
    pending = {str(row[0]) for row in rows}
    for result in results:
        waiting = [name for name in _settings_of(result.control) if name in pending]
        if waiting and result.status is not Status.SKIP:
            result.status = Status.FAIL
            result.detail += (
                f"; pending a restart: the configuration sets another {', '.join(waiting)}, in "
                "effect when the server restarts (pg_settings.pending_restart)"
            )


def evaluate(
    conn: psycopg.Connection[Any],
    control: Control,
    params: Mapping[str, str],
    platform: Platform | None = None,
    *,
    alone: bool = False,
) -> Result:
    """Run one control's query and judge its rows.

    Args:
        conn: a connection inside a transaction (``run`` opens a read-only one).
        control: the control; its query is ``control.sql_file``, bound to its ``args`` and to
            the kit settings it names in ``params``.
        params: the kit settings' values by name (``hardening.settings.get`` for each).
        platform: the managed service the server runs on (``platforms.detect``), or None.
        alone: run the query without a savepoint of its own: a failing query (a ``skip``)
            then leaves the transaction aborted, for the caller to roll back (``run`` does).

    Example::

        with connect(parse_url(url)) as conn, conn.transaction():
            evaluate(conn, get("ssl_on"), {}).status
    """
    clock = Stopwatch()
    handled = platforms.handled(platform, control.id)
    if platform is not None and handled is not None:
        return _not_applicable(conn, control, platform, handled, clock)
    query = sqlfiles.load(control.sql_file)
    args: dict[str, object] = {name: params[name] for name in control.params}
    args.update((name, list(v) if isinstance(v, tuple) else v) for name, v in control.args)
    try:
        with (
            nullcontext() if alone else conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            cur.execute(query, args or None)
            rows = cur.fetchall()
    except psycopg.Error as exc:
        state = exc.sqlstate or "error"
        # PostgreSQL 16+ names the role that would do (pg_read_all_settings) in the detail.
        detail = exc.diag.message_detail
        reason = _one_line(exc.diag.message_primary or str(exc))
        if detail:
            reason += f". {_one_line(detail)}"
        return Result(control, Status.SKIP, f"cannot evaluate ({state}): {reason}", [], clock.ms())
    if control.evaluator == "findings":
        rows, theirs = _without_reserved(rows, platforms.reserved_roles(platform))
        evidence = [{k: _jsonable(v) for k, v in row.items()} for row in rows[:EVIDENCE_ROWS]]
        if not rows:
            left_out = (
                f" ({theirs} about {platform.name}'s own roles left out)"
                if platform and theirs
                else ""
            )
            return Result(control, Status.PASS, f"no findings{left_out}", [], clock.ms())
        detail = f"{len(rows)} finding(s): " + "; ".join(_describe(r) for r in evidence[:5])
        if len(rows) > 5:
            detail += "; ..."
        return Result(control, Status.FAIL, detail, evidence, clock.ms())
    evidence = [{k: _jsonable(v) for k, v in row.items()} for row in rows[:EVIDENCE_ROWS]]
    if len(rows) != 1 or "ok" not in rows[0]:
        return Result(
            control,
            Status.SKIP,
            f"cannot evaluate: the check returned {len(rows)} row(s), expected one (ok, observed)",
            evidence,
            clock.ms(),
        )
    ok, observed = rows[0]["ok"], str(rows[0].get("observed") or "")
    status = Status.SKIP if ok is None else Status.PASS if ok else Status.FAIL
    return Result(control, status, observed, evidence, clock.ms())


def _not_applicable(
    conn: psycopg.Connection[Any],
    control: Control,
    platform: Platform,
    handled: platforms.Handled,
    clock: Stopwatch,
) -> Result:
    """The result of a control ``platform`` makes impossible or does itself."""
    evidence: dict[str, Any] = {"platform": platform.name, "instead": handled.instead}
    detail = f"{handled.reason}; check instead: {handled.instead}"
    if handled.show:
        try:
            with conn.transaction():
                row = conn.execute("SELECT current_setting(%s, true)", [handled.show]).fetchone()
            value = row[0] if row else None
        except psycopg.Error:
            value = None
        evidence[handled.show] = value
        detail += f" (now {handled.show} = {value if value is not None else 'not shown'})"
    return Result(control, Status.NOT_APPLICABLE, detail, [evidence], clock.ms())


def _without_reserved(
    rows: list[dict[str, Any]], reserved: frozenset[str]
) -> tuple[list[dict[str, Any]], int]:
    """``rows`` less the findings about a managed service's own roles, and how many those
    were."""
    if not reserved:
        return rows, 0
    kept = [r for r in rows if r.get("role") not in reserved and r.get("grantee") not in reserved]
    return kept, len(rows) - len(kept)


def _describe(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.items())


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_jsonable(v) for v in value]
    return str(value)


def _one_line(text: str, url: URL | None = None) -> str:
    line = " ".join(text.split())
    for secret in settings.url_secrets(url) if url is not None else ():
        line = line.replace(secret, "***")
    return line
