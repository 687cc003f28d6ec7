"""Run the catalog over one plain SQL connection: each control in its own savepoint, so a
query the role may not run (permission denied) becomes a ``skip`` and never stops the run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from hardening import settings, sqlfiles
from hardening.errors import SettingsError, VerifyError
from hardening.verify.controls import CONTROLS, PROBES
from hardening.verify.model import Control, Report, Result, Status, Stopwatch

CONNECT_TIMEOUT = 10  # seconds
STATEMENT_TIMEOUT = "10s"  # per control query
EVIDENCE_ROWS = 50  # rows kept per control


def select(
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    scope: str = "all",
    probe: bool = False,
) -> list[Control]:
    """The controls a run evaluates, in catalog order.

    ``only``/``skip`` take control ids; ``scope`` is kit, server or all. Probes are included
    with ``probe=True`` or when named in ``only``.
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
    """A psycopg SQLAlchemy URL from ``url`` or DATABASE_URL; VerifyError when neither works."""
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
    """An autocommit connection for ``url``; VerifyError with the server's reason otherwise."""
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
    """Evaluate the selected controls against ``url`` (default DATABASE_URL) and return the
    report. Raises VerifyError when it cannot run at all."""
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
        )
        params = {name: settings.get(name, x_args) for name in settings.SETTINGS}
        queries = [c for c in chosen if not c.probe]
        probes = [c for c in chosen if c.probe]
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
            for control in queries:
                report.results.append(evaluate(conn, control, params))
        if probes:
            from hardening.verify.probe import run_probes

            report.results.extend(run_probes(conn, probes, report))
    report.duration_ms = clock.ms()
    return report


def evaluate(conn: psycopg.Connection[Any], control: Control, params: Mapping[str, str]) -> Result:
    """Run one control's query in a savepoint and judge its rows."""
    clock = Stopwatch()
    query = sqlfiles.load(control.sql_file)
    args = {name: params[name] for name in control.params} if control.params else None
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, args)
            rows = cur.fetchall()
    except psycopg.Error as exc:
        state = exc.sqlstate or "error"
        # PostgreSQL 16+ names the role that would do (pg_read_all_settings) in the detail.
        detail = exc.diag.message_detail
        reason = _one_line(exc.diag.message_primary or str(exc))
        if detail:
            reason += f". {_one_line(detail)}"
        return Result(control, Status.SKIP, f"cannot evaluate ({state}): {reason}", [], clock.ms())
    evidence = [{k: _jsonable(v) for k, v in row.items()} for row in rows[:EVIDENCE_ROWS]]
    if control.evaluator == "findings":
        if not rows:
            return Result(control, Status.PASS, "no findings", [], clock.ms())
        detail = f"{len(rows)} finding(s): " + "; ".join(_describe(r) for r in evidence[:5])
        if len(rows) > 5:
            detail += "; ..."
        return Result(control, Status.FAIL, detail, evidence, clock.ms())
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
