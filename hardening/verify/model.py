"""What a control is (data) and what running one yields (a result), shared by every module of
``hardening.verify``. A control's SQL lives in ``sql/checks/<id>.sql``; its evaluator is one of
two generic rules, so adding a control means one catalog entry and one query."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low"]
Scope = Literal["kit", "server"]
Evaluator = Literal["findings", "status"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
SCOPES: tuple[Scope, ...] = ("kit", "server")


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Control:
    """One verifiable hardening control.

    evaluator
      ``findings``: the query returns one row per problem; no rows means pass.
      ``status``: the query returns one row ``(ok boolean, observed text)``; ``ok`` NULL
      means the control does not apply (skip, ``observed`` says why).
    scope
      ``kit``: the kit's ``alembic upgrade head`` makes this pass at database level.
      ``server``: everything else (server configuration, pg_hba, cluster-wide roles,
      objects the application owns): out of the migrations' reach.
    params
      kit settings (``hardening.settings`` names) the query reads as ``%(name)s``.
    """

    id: str
    title: str
    severity: Severity
    scope: Scope
    evaluator: Evaluator
    rationale: str
    fix: str
    privilege: str = "any role"
    cis: str | None = None
    pgdsat: str | None = None
    params: tuple[str, ...] = ()
    probe: bool = False  # an active probe (``--probe``), not a catalog query

    @property
    def sql_file(self) -> str:
        return f"checks/{self.id}.sql"


@dataclass
class Result:
    """The outcome of one control: status, a one-line detail, and the rows behind it."""

    control: Control
    status: Status
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass
class Report:
    """Everything one ``verify`` run found, in catalog order."""

    target: str  # URL with the password hidden
    database: str
    user: str
    superuser: bool
    server_version: str
    started_at: str
    results: list[Result] = field(default_factory=list)
    duration_ms: float = 0.0

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        out["total"] = len(self.results)
        return out

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.FAIL]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when a selected control failed."""
        return 1 if self.failed else 0

    def result(self, control_id: str) -> Result:
        for r in self.results:
            if r.control.id == control_id:
                return r
        raise KeyError(f"the report has no control {control_id!r}")


class Stopwatch:
    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self._t0) * 1000, 2)
