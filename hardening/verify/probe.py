"""``verify --probe``: active proof that pgaudit records what the configuration promises.

In a scratch schema (always dropped) it runs a canary DDL, a role change and a write, then
looks for their pgaudit records, and checks that a unique marker sent as a bind parameter
does not appear in the audit output. A last canary, a statement over 16 KB, shows whether its
record arrives whole (some log pipelines cut or drop records near 16 KB). The audit output is
read from the server log through SQL when the server writes log files the role may read
(logging_collector + pg_read_file), otherwise captured on this connection as NOTICEs
(``SET pgaudit.log_client = on``, ``pgaudit.log_level = notice``: superuser only). Only the
output routing changes for the probe's session; which classes are audited stays what the
database configures.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from hardening.verify.model import Control, Report, Result, Status, Stopwatch

LOG_WAIT = 3.0  # seconds to wait for the collector to write the records
LONG_STATEMENT = 16 * 1024 + 512  # bytes of the long canary's comment: its record is longer


class _Capture:
    """Where the probe reads audit output from: the server log file or NOTICEs."""

    def __init__(self, conn: psycopg.Connection[Any], superuser: bool) -> None:
        self.conn = conn
        self.route = ""
        self.problem = ""
        self._notices: list[str] = []
        self._logfile: str | None = None
        self._offset = 0
        self._handler: Callable[[psycopg.errors.Diagnostic], None] | None = None
        try:
            row = conn.execute("SELECT pg_current_logfile()").fetchone()
            if row and row[0]:
                self._logfile = str(row[0])
                self._offset = self._size()
                self.route = f"server log {self._logfile}"
                return
        except psycopg.Error:
            self._logfile = None
        if not superuser:
            self.problem = (
                "the server log is not readable through SQL (logging_collector off or no "
                "pg_read_server_files) and pgaudit.log_client needs a superuser"
            )
            return
        conn.execute("SET client_min_messages = notice")
        conn.execute("SET pgaudit.log_client = on")
        conn.execute("SET pgaudit.log_level = notice")

        def handler(diag: psycopg.errors.Diagnostic) -> None:
            self._notices.append(diag.message_primary or "")

        self._handler = handler
        conn.add_notice_handler(handler)
        self.route = "NOTICEs on this connection (pgaudit.log_client = on)"

    def _size(self) -> int:
        row = self.conn.execute("SELECT size FROM pg_stat_file(%s)", [self._logfile]).fetchone()
        return int(row[0]) if row else 0

    def text(self, wait_for: Sequence[str] = ()) -> str:
        """Audit output since the capture started; waits (log route) for ``wait_for`` regexes."""
        if self._logfile is None:
            return "\n".join(self._notices)
        deadline = time.monotonic() + LOG_WAIT
        while True:
            size = self._size()
            row = self.conn.execute(
                "SELECT pg_read_file(%s, %s, %s)",
                [self._logfile, self._offset, max(size - self._offset, 0)],
            ).fetchone()
            text = str(row[0]) if row else ""
            if all(re.search(p, text) for p in wait_for) or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def close(self) -> None:
        if self._handler is not None:
            self.conn.remove_notice_handler(self._handler)
            for name in ("pgaudit.log_client", "pgaudit.log_level", "client_min_messages"):
                self.conn.execute(sql.SQL("RESET {}").format(sql.Identifier(*name.split("."))))


def run_probes(
    conn: psycopg.Connection[Any], probes: Sequence[Control], report: Report
) -> list[Result]:
    """Run the canary statements once and judge each selected probe against the output.

    Args:
        conn: an autocommit connection (the probe creates, and removes, a scratch schema and
            role).
        probes: the probes selected (``controls.PROBES`` or some of them).
        report: the run's report so far: whether its role is a superuser decides how the
            audit output is captured.

    Example::

        report.results.extend(run_probes(conn, PROBES, report))
    """
    clock = Stopwatch()
    by_id = {c.id: c for c in probes}
    tag = uuid.uuid4().hex[:12]
    schema, role = f"hardening_probe_{tag}", f"hardening_probe_{tag}"
    marker = f"hardening-probe-secret-{uuid.uuid4().hex}"
    table = sql.Identifier(schema, "canary")
    standby = _on_standby(conn, probes, clock)
    if standby:
        return standby
    unloaded = _pgaudit_not_loaded(conn, probes, clock)
    if unloaded:
        return unloaded
    try:
        capture = _Capture(conn, report.superuser)
    except psycopg.Error as exc:
        reason = f"cannot capture audit output: {exc.diag.message_primary or exc}"
        return [Result(c, Status.SKIP, reason, [], clock.ms()) for c in probes]
    if capture.problem:
        return [Result(c, Status.SKIP, capture.problem, [], clock.ms()) for c in probes]

    errors: dict[str, str] = {}

    def attempt(step: str, statement: sql.Composed, params: Sequence[Any] = ()) -> None:
        try:
            conn.execute(statement, params or None)
        except psycopg.Error as exc:
            errors.setdefault(step, exc.diag.message_primary or str(exc))

    try:
        attempt("ddl", sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        attempt("ddl", sql.SQL("CREATE TABLE {} (id int, note text)").format(table))
        attempt("role", sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        attempt("role", sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        attempt(
            "write", sql.SQL("INSERT INTO {} (id, note) VALUES (1, %s)").format(table), [marker]
        )
        long_tag = f"hardening-probe-{tag}"
        long_text = sql.Literal(f"{long_tag}-head {'x' * LONG_STATEMENT} {long_tag}-tail")
        long_statement = sql.SQL("COMMENT ON TABLE {} IS {}").format(table, long_text)
        attempt("long", long_statement)
    finally:
        drop_schema = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        drop_role = sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role))
        attempt("cleanup schema", drop_schema)
        attempt("cleanup role", drop_role)
    # A scratch object that outlives the probe is said on every probe's line, with the fix;
    # one whose creation failed too was never there to remove.
    remaining = _remaining(conn, schema, role)
    left_behind = "".join(
        f"; scratch {kind} {name} was not removed ({errors[step]}): run {stmt.as_string(conn)}"
        for step, kind, name, stmt in (
            ("cleanup schema", "schema", schema, drop_schema),
            ("cleanup role", "role", role, drop_role),
        )
        if step in errors and remaining.get(kind, True)
    )

    qualified = re.escape(f"{schema}.canary")
    patterns = {
        "probe_ddl_audited": ("ddl", rf"AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE,.*{qualified}"),
        "probe_role_audited": ("role", rf"AUDIT: SESSION,\d+,\d+,ROLE,CREATE ROLE,.*{role}"),
        "probe_write_audited": ("write", rf"AUDIT: SESSION,\d+,\d+,WRITE,INSERT,.*{qualified}"),
    }
    wanted = [p for cid, (_, p) in patterns.items() if cid in by_id or cid == "probe_write_audited"]
    if "probe_long_record_whole" in by_id:
        wanted.append(re.escape(f"{long_tag}-head"))
    try:
        text = capture.text(wanted)
    finally:
        capture.close()
    lines = text.splitlines()

    results: list[Result] = []
    write_lines: list[str] = []
    for cid, (step, pattern) in patterns.items():
        found = [line.strip()[:500] for line in lines if re.search(pattern, line)]
        if cid == "probe_write_audited":
            write_lines = found
        if cid not in by_id:
            continue
        control = by_id[cid]
        evidence: list[dict[str, Any]] = [{"route": capture.route, "record": f} for f in found]
        if found:
            results.append(
                Result(control, Status.PASS, f"audited: {found[0]}", evidence, clock.ms())
            )
        elif step in errors:
            results.append(
                Result(
                    control, Status.SKIP, f"cannot run the canary: {errors[step]}", [], clock.ms()
                )
            )
        else:
            results.append(
                Result(
                    control,
                    Status.FAIL,
                    f"no pgaudit record of the canary {step} in {capture.route}",
                    [],
                    clock.ms(),
                )
            )
    if "probe_bind_parameter_hidden" in by_id:
        control = by_id["probe_bind_parameter_hidden"]
        leaked = [line.strip()[:500] for line in lines if marker in line]
        if leaked:
            results.append(
                Result(
                    control,
                    Status.FAIL,
                    "the bind parameter marker appears in the audit output",
                    [{"route": capture.route, "record": line} for line in leaked],
                    clock.ms(),
                )
            )
        elif not write_lines:
            reason = errors.get("write") or "the canary write was not audited"
            results.append(
                Result(control, Status.SKIP, f"cannot show it: {reason}", [], clock.ms())
            )
        else:
            results.append(
                Result(
                    control,
                    Status.PASS,
                    "the audited INSERT's record does not contain its bind parameter",
                    [{"route": capture.route, "record": write_lines[0]}],
                    clock.ms(),
                )
            )
    if "probe_long_record_whole" in by_id:
        ddl = re.compile(patterns["probe_ddl_audited"][1])
        seen = any(ddl.search(line) for line in lines)
        size = len(long_statement.as_bytes(conn))
        control = by_id["probe_long_record_whole"]
        results.append(_long_record(control, lines, long_tag, size, seen, errors, capture.route))
        results[-1].duration_ms = clock.ms()
    for result in results:
        result.detail += left_behind
    order = [c.id for c in probes]
    return sorted(results, key=lambda r: order.index(r.control.id))


def _on_standby(
    conn: psycopg.Connection[Any], probes: Sequence[Control], clock: Stopwatch
) -> list[Result]:
    """Every probe skipped, with the reason, on a hot standby (read-only: the canaries write);
    [] elsewhere."""
    try:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return []
    if not (row and row[0]):
        return []
    reason = (
        "this server is a hot standby (pg_is_in_recovery()): read-only, so no canary can run; "
        "run the probes on the primary, whose audit settings the standby replays"
    )
    return [Result(c, Status.SKIP, reason, [], clock.ms()) for c in probes]


def _pgaudit_not_loaded(
    conn: psycopg.Connection[Any], probes: Sequence[Control], clock: Stopwatch
) -> list[Result]:
    """The probes' results when pgaudit is not loaded (nothing to run then), else [].

    A loaded pgaudit's settings are listed in pg_settings for every role; the placeholder an
    ``ALTER DATABASE ... SET pgaudit.log`` leaves on a server without it is not. There every
    DDL statement also fails (the extension's event triggers cannot load pgaudit), so the
    canaries would only report that error."""
    try:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pgaudit.log')"
        ).fetchone()
    except psycopg.Error:
        return []  # the canaries will say what is wrong
    if row is None or row[0]:
        return []
    reason = "pgaudit is not loaded (not in shared_preload_libraries)"
    return [
        Result(c, Status.SKIP, f"cannot show it: {reason}", [], clock.ms())
        if c.id == "probe_bind_parameter_hidden"
        else Result(c, Status.FAIL, f"{reason}: nothing is audited", [], clock.ms())
        for c in probes
    ]


def _remaining(conn: psycopg.Connection[Any], schema: str, role: str) -> dict[str, bool]:
    """Whether the scratch schema and role exist after the cleanup ({} when unknown)."""
    try:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s),"
            " EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
            [schema, role],
        ).fetchone()
    except psycopg.Error:
        return {}
    return {"schema": bool(row[0]), "role": bool(row[1])} if row else {}


def _long_record(
    control: Control,
    lines: Sequence[str],
    tag: str,
    statement_bytes: int,
    ddl_seen: bool,
    errors: dict[str, str],
    route: str,
) -> Result:
    """Whether the record of the long canary (a COMMENT over 16 KB, DDL class) arrived whole
    in ``lines`` (read from ``route``): its head and tail markers on one line with every byte
    between them."""
    head, tail = f"{tag}-head", f"{tag}-tail"
    found = [line for line in lines if head in line]
    size = f"{statement_bytes / 1024:.1f} KB"
    whole = [line for line in found if tail in line and "x" * LONG_STATEMENT in line]
    if whole:
        detail = (
            f"the record of a {size} statement arrived whole in {route}; search the log "
            f"pipeline downstream for {head} to check it there"
        )
        return Result(
            control, Status.PASS, detail, [{"route": route, "bytes": len(whole[0].encode())}]
        )
    if found:
        kept = max(len(line.encode()) for line in found)
        detail = f"the record of a {size} statement arrived cut to {kept} bytes in {route}"
        return Result(control, Status.FAIL, detail, [{"route": route, "bytes": kept}])
    if "long" in errors:
        return Result(control, Status.SKIP, f"cannot run the canary: {errors['long']}")
    if not ddl_seen:
        return Result(control, Status.SKIP, "cannot show it: the canary DDL was not audited")
    detail = (
        f"the record of a {size} statement never arrived in {route}, "
        "though the short DDL canary's did"
    )
    return Result(control, Status.FAIL, detail)
