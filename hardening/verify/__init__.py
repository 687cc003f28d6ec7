"""``hardening verify``: evidence, over a plain SQL connection, that a database is hardened.

Public API (also what ``make demo`` calls)::

    from hardening.verify import run, render_text
    report = run("postgresql://...", scope="kit")      # -> Report
    render_text(report, console)                       # rich table
    report.exit_code                                   # 0 pass, 1 a control failed

The catalogue is ``CONTROLS`` (data, ``hardening.verify.controls``); each control's query is
in ``sql/checks/``. ``CIS`` and ``STIG`` are the two catalogues the controls answer, item by
item (``hardening.verify.catalogues``); ``render_oscal`` writes OSCAL assessment results.
"""

from hardening.errors import VerifyError
from hardening.verify.catalogues import CIS, STIG, coverage
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
from hardening.verify.model import Control, Platform, Report, Result, Rule, Status
from hardening.verify.oscal import render_oscal, to_oscal
from hardening.verify.runner import run, select

__all__ = [
    "CIS",
    "CONTROLS",
    "JSON_SCHEMA_VERSION",
    "PROBES",
    "STIG",
    "Control",
    "Platform",
    "Report",
    "Result",
    "Rule",
    "Status",
    "VerifyError",
    "coverage",
    "render",
    "render_json",
    "render_junit",
    "render_oscal",
    "render_sarif",
    "render_text",
    "run",
    "select",
    "to_dict",
    "to_oscal",
]
