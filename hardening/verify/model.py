"""What a control is (data) and what running one yields (a result), shared by every module of
``hardening.verify``.

A control is one entry of the catalogue (``hardening.verify.controls``) and one query in
``sql/checks/``: its own file ``<id>.sql``, or a file several controls share with arguments of
their own (``settings.sql`` judges server settings by the rules a control lists). Its
evaluator is one of two generic rules, so adding a control means one entry and, at most, one
query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low"]
Scope = Literal["kit", "server"]
Evaluator = Literal["findings", "status"]
Arg = str | tuple[str, ...]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
SCOPES: tuple[Scope, ...] = ("kit", "server")


class Status(StrEnum):
    """How a control came out: ``pass``, ``fail``, ``skip`` (the connecting role cannot
    evaluate it) or ``not_applicable`` (the managed service the server runs on makes it
    impossible, or does it itself; the detail names the service's own control instead).
    Only ``fail`` counts towards the exit status.

    Example::

        >>> Status("not_applicable") is Status.NOT_APPLICABLE
        True
    """

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIP = "skip"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Rule:
    """What one server setting must be, for the shared query ``sql/checks/settings.sql``.

    Attributes:
        setting: the parameter's name, e.g. ``"log_connections"`` or
            ``"pgaudit.log_relation"`` (pgaudit's settings are judged only while pgaudit is
            loaded).
        accept: a PostgreSQL regular expression the value must match, lower-cased and trimmed;
            it is applied to this session's value and to every ``ALTER ROLE/DATABASE ... SET``
            of it.
        expect: what the value should be, in words, for the report (``"on"``, ``"0"``).
        low: the least numeric value, in the setting's base unit (``pg_settings.setting``),
            checked on this session's value only; None for no bound.
        high: the greatest numeric value, likewise.

    Example::

        Rule("log_rotation_age", r"^[0-9]+", "1 minute to 1 day", low=1, high=1440)
    """

    setting: str
    accept: str
    expect: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Control:
    """One verifiable hardening control.

    Attributes:
        id: stable identifier, also the name of its own query (``sql/checks/<id>.sql``).
        title: what is checked (plain text, no markup).
        severity: ``critical``, ``high``, ``medium`` or ``low``.
        scope: ``kit``: the kit's ``hardening upgrade`` makes this pass at database level;
            ``server``: everything else (server configuration, pg_hba, cluster-wide roles,
            objects the application owns): out of the migrations' reach.
        evaluator: ``findings``: the query returns one row per problem; no rows means pass.
            ``status``: the query returns one row ``(ok boolean, observed text)``; ``ok`` NULL
            means the control does not apply (skip, ``observed`` says why).
        rationale: why it matters.
        fix: what to change.
        privilege: what the connecting role needs to evaluate it, e.g.
            ``"superuser (pg_authid)"``.
        cis: CIS PostgreSQL 17 Benchmark recommendations, e.g. ``("3.2",)``.
        pgdsat: the numbers pgdsat reports the same checks under.
        stig: vulnerability ids of the DISA Crunchy Data PostgreSQL 16 STIG, e.g.
            ``("V-261860",)``; their CCIs come from the catalogue (``cci``).
        params: kit settings (``hardening.settings`` names) the query reads as ``%(name)s``.
        sql: a query file shared with other controls (its stem, e.g. ``"settings"``), or "".
        args: the fixed arguments this control binds to that query, as (name, value) pairs;
            ``controls._build.setting`` builds them from ``Rule`` s.
        probe: an active probe run with ``--probe``, not a catalogue query.

    Example::

        Control(
            "log_connections", "log_connections is on", "medium", "server", "status",
            rationale="Who connected, from where and when ...",
            fix="ALTER SYSTEM SET log_connections = on and reload.",
            cis=("3.1.20",), stig=("V-261956",),
        )
    """

    id: str
    title: str
    severity: Severity
    scope: Scope
    evaluator: Evaluator
    rationale: str
    fix: str
    privilege: str = "any role"
    cis: tuple[str, ...] = ()
    pgdsat: tuple[str, ...] = ()
    stig: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    sql: str = ""
    args: tuple[tuple[str, Arg], ...] = ()
    probe: bool = False

    @property
    def sql_file(self) -> str:
        """The query's path below ``sql/``.

        Example::

            get("ssl_on").sql_file            # "checks/ssl_on.sql"
            get("log_connections").sql_file   # "checks/settings.sql"
        """
        return f"checks/{self.sql or self.id}.sql"

    @property
    def cci(self) -> tuple[str, ...]:
        """The CCIs of the STIG checks this control answers, in catalogue order.

        Example::

            get("log_connections").cci        # ("CCI-000130", "CCI-000172")
        """
        from hardening.verify.catalogues import STIG

        by_vuln = {check.id: check for check in STIG.items}
        seen: dict[str, None] = {}
        for vuln in self.stig:
            for cci in by_vuln[vuln].cci:
                seen[cci] = None
        return tuple(seen)


@dataclass
class Result:
    """The outcome of one control.

    Attributes:
        control: the control evaluated.
        status: ``pass``, ``fail``, ``skip`` or ``not_applicable``.
        detail: one line: what was seen
            (``"log_connections = off (source: default), expected on"``), the findings, or
            why it was skipped.
        evidence: the query's rows (at most ``runner.EVIDENCE_ROWS``), JSON-ready.
        duration_ms: how long the control took.

    Example::

        Result(get("ssl_on"), Status.PASS, "ssl = on")
    """

    control: Control
    status: Status
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass(frozen=True)
class Platform:
    """The managed service a server runs on, as its roles and settings show it.

    Attributes:
        name: ``aurora``, ``rds``, ``cloudsql`` or ``azure``.
        markers: what gave it away, e.g. ``("role rds_superuser", "setting rds.force_ssl")``.

    Example::

        Platform("rds", ("role rds_superuser",))
    """

    name: str
    markers: tuple[str, ...]


@dataclass
class Report:
    """Everything one ``verify`` run found, in catalogue order.

    Attributes:
        target: the database URL, password hidden (``settings.display_url``).
        database: ``current_database()`` of the session.
        user: ``current_user`` of the session.
        superuser: whether that role is a superuser.
        server_version: the server's ``server_version``.
        started_at: UTC start, ``YYYY-MM-DDTHH:MM:SSZ``.
        results: one ``Result`` per selected control, in catalogue order.
        duration_ms: the whole run.
        platform: the managed service the server runs on, or None (``platforms.detect``).

    Example::

        report = run("postgresql://app@db/app")
        report.exit_code, report.counts()["fail"], report.result("ssl_on").status
    """

    target: str
    database: str
    user: str
    superuser: bool
    server_version: str
    started_at: str
    results: list[Result] = field(default_factory=list)
    duration_ms: float = 0.0
    platform: Platform | None = None

    def counts(self) -> dict[str, int]:
        """How many controls came out each way, and ``total``.

        Example::

            report.counts()["fail"]   # {"pass": 51, "fail": 44, ..., "total": 95}
        """
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        out["total"] = len(self.results)
        return out

    @property
    def failed(self) -> list[Result]:
        """The results that failed, in catalogue order.

        Example::

            [r.control.id for r in report.failed]
        """
        return [r for r in self.results if r.status is Status.FAIL]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when a selected control failed (skips and not-applicable
        controls never count).

        Example::

            raise SystemExit(report.exit_code)
        """
        return 1 if self.failed else 0

    def result(self, control_id: str) -> Result:
        """The result of ``control_id``; KeyError when the run did not select it.

        Args:
            control_id: a control's id, e.g. ``"ssl_on"``.

        Example::

            report.result("ssl_on").detail
        """
        for r in self.results:
            if r.control.id == control_id:
                return r
        raise KeyError(f"the report has no control {control_id!r}")


class Stopwatch:
    """Milliseconds since it was made.

    Example::

        clock = Stopwatch()
        took = clock.ms()   # 12.34
    """

    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def ms(self) -> float:
        """Milliseconds since the stopwatch was made, to 0.01 ms.

        Example::

            Result(control, Status.PASS, "", [], clock.ms())
        """
        return round((time.perf_counter() - self._t0) * 1000, 2)
