"""Render a verify Report: a rich table for people, JSON (documented in docs/verify.md),
JUnit XML and SARIF 2.1.0 for CI dashboards, and OSCAL assessment results
(``hardening.verify.oscal``) for compliance tooling.

Example::

    from hardening.verify import run, render
    text = render(run("postgresql://app@db/app"), "sarif")
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hardening import __version__
from hardening.verify.model import Control, Report, Status

JSON_SCHEMA_VERSION = 2
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FORMATS = ("text", "json", "junit", "sarif", "oscal")

_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.SKIP: "yellow",
    Status.NOT_APPLICABLE: "cyan",
}
_LABEL = {Status.NOT_APPLICABLE: "N/A"}
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_SARIF_KIND = {
    Status.PASS: "pass",
    Status.FAIL: "fail",
    Status.SKIP: "notApplicable",
    Status.NOT_APPLICABLE: "notApplicable",
}


def render(report: Report, fmt: str, console: Console | None = None) -> str:
    """The report as text in ``fmt``; ``text`` prints through ``console`` and returns "".

    Args:
        report: what ``run`` returned.
        fmt: one of ``FORMATS``: ``text``, ``json``, ``junit``, ``sarif`` or ``oscal``.
        console: where ``text`` prints (default: the terminal); the other formats ignore it.

    Example::

        Path("verify.sarif").write_text(render(report, "sarif"))
    """
    if fmt == "text":
        render_text(report, console or Console())
        return ""
    if fmt == "json":
        return render_json(report)
    if fmt == "junit":
        return render_junit(report)
    if fmt == "sarif":
        return render_sarif(report)
    if fmt == "oscal":
        from hardening.verify.oscal import render_oscal

        return render_oscal(report)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render_text(report: Report, console: Console) -> None:
    """A table of every control (colour on a terminal), then the fixes for the failures.

    Args:
        report: what ``run`` returned.
        console: a rich ``Console``: the terminal, or ``Console(file=f, no_color=True)`` for a
            file.

    Example::

        render_text(report, Console())
    """
    counts = report.counts()
    role = "superuser" if report.superuser else "not a superuser"
    on = ""
    if report.platform:
        on = f", on {report.platform.name}: {', '.join(report.platform.markers)}"
    console.print(
        f"[bold]pg-hardening verify[/] {escape(report.target)} "
        f"(PostgreSQL {report.server_version}, as {report.user}, {role}{on})"
    )
    table = Table(show_lines=False, header_style="bold")
    table.add_column("status")
    table.add_column("control")
    table.add_column("severity")
    table.add_column("scope")
    table.add_column("detail", overflow="fold")
    for r in report.results:
        table.add_row(
            Text(_LABEL.get(r.status, r.status.value.upper()), style=_STYLE[r.status]),
            r.control.id,
            r.control.severity,
            r.control.scope,
            Text(r.detail),
        )
    console.print(table)
    if report.failed:
        console.print("[bold]How to fix what failed[/]")
        for r in report.failed:
            console.print(f"  [red]{r.control.id}[/]: {escape(r.control.fix)}", highlight=False)
    not_applicable = counts["not_applicable"]
    console.print(
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        + (f", {not_applicable} not applicable" if not_applicable else "")
        + f" of {counts['total']} controls in {report.duration_ms:.0f} ms"
    )


def control_dict(control: Control) -> dict[str, Any]:
    """A control's fields as the JSON document gives them (docs/verify.md).

    Args:
        control: any control or probe.

    Example::

        control_dict(get("ssl_on"))["stig"]
    """
    return {
        "id": control.id,
        "title": control.title,
        "severity": control.severity,
        "scope": control.scope,
        "rationale": control.rationale,
        "fix": control.fix,
        "privilege": control.privilege,
        "cis": ", ".join(control.cis) or None,
        "pgdsat": ", ".join(control.pgdsat) or None,
        "stig": list(control.stig),
        "cci": list(control.cci),
        "probe": control.probe,
        "sql": None if control.probe else f"sql/{control.sql_file}",
        "args": {name: list(v) if isinstance(v, tuple) else v for name, v in control.args},
    }


def to_dict(report: Report) -> dict[str, Any]:
    """The JSON document (schema_version 2, documented in docs/verify.md and described by
    docs/verify-report.schema.json).

    Args:
        report: what ``run`` returned.

    Example::

        to_dict(report)["summary"]["fail"]
    """
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": {"name": "pg-hardening", "version": __version__},
        "target": {
            "url": report.target,
            "database": report.database,
            "user": report.user,
            "superuser": report.superuser,
            "server_version": report.server_version,
            "platform": (
                {"name": report.platform.name, "markers": list(report.platform.markers)}
                if report.platform
                else None
            ),
        },
        "started_at": report.started_at,
        "duration_ms": report.duration_ms,
        "summary": report.counts(),
        "exit_code": report.exit_code,
        "controls": [
            {
                **control_dict(r.control),
                "status": r.status.value,
                "detail": r.detail,
                "evidence": r.evidence,
                "duration_ms": r.duration_ms,
            }
            for r in report.results
        ],
    }


def render_json(report: Report) -> str:
    """``to_dict(report)`` as indented JSON text.

    Args:
        report: what ``run`` returned.

    Example::

        Path("verify.json").write_text(render_json(report))
    """
    return json.dumps(to_dict(report), indent=2, sort_keys=False) + "\n"


def render_junit(report: Report) -> str:
    """JUnit XML: one testsuite, one testcase per control (failure, or skipped for a skip and
    for a control that does not apply on the managed service).

    Args:
        report: what ``run`` returned.

    Example::

        Path("verify.xml").write_text(render_junit(report))
    """
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        {
            "name": "pg-hardening verify",
            "tests": str(counts["total"]),
            "failures": str(counts["fail"]),
            "errors": "0",
            "skipped": str(counts["skip"] + counts["not_applicable"]),
            "time": f"{report.duration_ms / 1000:.3f}",
            "timestamp": report.started_at,
            "hostname": report.target,
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("database", report.database),
        ("user", report.user),
        ("server_version", report.server_version),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"hardening.verify.{r.control.scope}",
                "name": r.control.id,
                "time": f"{r.duration_ms / 1000:.3f}",
            },
        )
        if r.status is Status.FAIL:
            failure = ET.SubElement(
                case, "failure", {"message": r.detail, "type": r.control.severity}
            )
            failure.text = f"{r.control.title}\n{r.detail}\nFix: {r.control.fix}"
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": r.detail})
        elif r.status is Status.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", {"message": f"not applicable: {r.detail}"})
    suites = ET.Element(
        "testsuites",
        {"name": "pg-hardening", "tests": str(counts["total"]), "failures": str(counts["fail"])},
    )
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def render_sarif(report: Report) -> str:
    """SARIF 2.1.0: every control is a rule; every evaluated control is a result whose kind is
    pass, fail or notApplicable (skip, not_applicable). Results point at the control's SQL
    file; rules carry the CIS numbers, STIG ids and CCIs as properties and tags.

    Args:
        report: what ``run`` returned.

    Example::

        Path("verify.sarif").write_text(render_sarif(report))
    """
    rules = []
    results = []
    for index, r in enumerate(report.results):
        c = r.control
        tags = ["security", "postgresql", f"scope:{c.scope}"]
        tags += [f"CIS-{number}" for number in c.cis]
        tags += list(c.stig) + list(c.cci)
        rules.append(
            {
                "id": c.id,
                "name": "".join(part.capitalize() for part in c.id.split("_")),
                "shortDescription": {"text": c.title},
                "fullDescription": {"text": c.rationale},
                "help": {"text": c.fix},
                "defaultConfiguration": {"level": _SARIF_LEVEL[c.severity]},
                "properties": {
                    "severity": c.severity,
                    "scope": c.scope,
                    "privilege": c.privilege,
                    "cis": ", ".join(c.cis) or None,
                    "pgdsat": ", ".join(c.pgdsat) or None,
                    "stig": list(c.stig),
                    "cci": list(c.cci),
                    "tags": tags,
                },
            }
        )
        artifact = "hardening/verify/probe.py" if c.probe else f"sql/{c.sql_file}"
        results.append(
            {
                "ruleId": c.id,
                "ruleIndex": index,
                "kind": _SARIF_KIND[r.status],
                "level": _SARIF_LEVEL[c.severity] if r.status is Status.FAIL else "none",
                "message": {"text": f"{c.title}: {r.detail}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact, "uriBaseId": "PGHARDENING"}
                        },
                        "logicalLocations": [
                            {"name": report.database, "kind": "database"},
                        ],
                    }
                ],
                "properties": {"evidence": r.evidence, "status": r.status.value},
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "pg-hardening verify",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": report.started_at,
                        "properties": {
                            "target": report.target,
                            "user": report.user,
                            "server_version": report.server_version,
                            "platform": report.platform.name if report.platform else None,
                        },
                    }
                ],
                "originalUriBaseIds": {
                    "PGHARDENING": {"description": {"text": "the pg-hardening source tree"}}
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
