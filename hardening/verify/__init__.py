"""``hardening verify``: evidence, over a plain SQL connection, that a database is hardened.

Public API (also what ``make demo`` calls)::

    from hardening.verify import run, render_text
    report = run("postgresql://...", scope="kit")      # -> Report
    render_text(report, console)                       # rich table
    report.exit_code                                   # 0 pass, 1 a control failed

The catalog is ``CONTROLS`` (data); each control's query is ``sql/checks/<id>.sql``.
"""

from hardening.errors import VerifyError
from hardening.verify.controls import CONTROLS, PROBES
from hardening.verify.formats import (
    JSON_SCHEMA_VERSION,
    render,
    render_json,
    render_junit,
    render_sarif,
    render_text,
    to_dict,
)
from hardening.verify.model import Control, Report, Result, Status
from hardening.verify.runner import run, select

__all__ = [
    "CONTROLS",
    "JSON_SCHEMA_VERSION",
    "PROBES",
    "Control",
    "Report",
    "Result",
    "Status",
    "VerifyError",
    "render",
    "render_json",
    "render_junit",
    "render_sarif",
    "render_text",
    "run",
    "select",
    "to_dict",
]
