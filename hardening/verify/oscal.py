"""``--format oscal``: a verify report as an OSCAL assessment-results document (JSON,
OSCAL 1.1.x), the NIST format compliance tooling reads.

One ``result`` holds the run: an ``observation`` for every selected control (what was seen,
with the query behind it as evidence) and a ``finding`` for every control that was evaluated
(pass: ``satisfied``, fail: ``not-satisfied``) tied to its observation. Skipped and
not-applicable controls have an observation only. Findings and observations carry the
control's CIS recommendations, STIG vulnerability ids, STIG ids and CCIs as properties in the
kit's namespace, and link to the two catalogues in the document's back matter.

UUIDs are derived from the run (target, start time, control): rendering the same report twice
gives the same document.

Example::

    from hardening.verify import run
    from hardening.verify.oscal import render_oscal
    document = render_oscal(run("postgresql://app@db/app"))
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hardening import __version__
from hardening.verify.catalogues import CIS, STIG, Catalogue
from hardening.verify.model import Control, Report, Result, Status

OSCAL_VERSION = "1.1.3"
# The namespace of the kit's own OSCAL properties: an absolute URL (OSCAL tools such as
# compliance-trestle read a prop's ns as one; a urn: name is refused there).
NS = "https://pypi.org/project/pg-hardening/#oscal-verify"
_STATE = {Status.PASS: "satisfied", Status.FAIL: "not-satisfied"}


def to_oscal(report: Report) -> dict[str, Any]:
    """The assessment-results document as a dict (``render_oscal`` writes it as JSON).

    Args:
        report: what ``run`` returned.

    Example::

        to_oscal(report)["assessment-results"]["results"][0]["findings"]
    """
    ids = _Ids(report)
    resources: dict[str, str] = {c.key: ids.of("catalogue", c.key) for c in (CIS, STIG)}
    plan = ids.of("catalogue", "controls")
    observations = []
    findings = []
    for r in report.results:
        observation = _observation(ids, r, resources, report.started_at)
        observations.append(observation)
        if r.status in _STATE:
            findings.append(_finding(ids, r, observation["uuid"], resources))
    end = _end(report)
    result: dict[str, Any] = {
        "uuid": ids.of("result"),
        "title": f"hardening verify of database {report.database}",
        "description": (
            f"pg-hardening verify {__version__} against {report.target} (PostgreSQL "
            f"{report.server_version}, as {report.user}): {_summary(report)}."
        ),
        "start": report.started_at,
        "end": end,
        "props": _props(
            ("database", report.database),
            ("server-version", report.server_version),
            ("platform", report.platform.name if report.platform else "self-managed"),
        ),
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": r.control.id} for r in report.results]}
            ]
            if report.results
            else [{"include-all": {}}]
        },
        "observations": observations,
    }
    if findings:
        result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": ids.of("document"),
            "metadata": {
                "title": f"pg-hardening verify: {report.database} on {report.target}",
                "last-modified": end,
                "version": __version__,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": f"#{plan}"},
            "results": [result],
            "back-matter": {
                "resources": [
                    {
                        "uuid": plan,
                        "title": "pg-hardening verify controls",
                        "description": "The catalogue of hardening verify: one SQL query per "
                        "control, evaluated over an ordinary connection "
                        "(docs/verify.md of pg-hardening).",
                        "props": _props(("version", __version__)),
                    },
                    *(_catalogue_resource(c, resources[c.key]) for c in (CIS, STIG)),
                ]
            },
        }
    }


def render_oscal(report: Report) -> str:
    """``to_oscal(report)`` as indented JSON text.

    Args:
        report: what ``run`` returned.

    Example::

        Path("sar.json").write_text(render_oscal(report))
    """
    return json.dumps(to_oscal(report), indent=2) + "\n"


class _Ids:
    """Deterministic UUIDs (version 5) for the parts of one report."""

    def __init__(self, report: Report) -> None:
        self._base = uuid.uuid5(uuid.NAMESPACE_URL, f"{NS}:{report.target}:{report.started_at}")

    def of(self, *parts: str) -> str:
        return str(uuid.uuid5(self._base, "/".join(parts)))


def _observation(ids: _Ids, r: Result, resources: dict[str, str], collected: str) -> dict[str, Any]:
    c = r.control
    evidence = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in r.evidence[:20])
    source = "hardening/verify/probe.py" if c.probe else f"sql/{c.sql_file}"
    observation: dict[str, Any] = {
        "uuid": ids.of("observation", c.id),
        "title": c.title,
        "description": f"{r.status.value}: {r.detail or c.title}",
        "props": _props(("control", c.id), ("status", r.status.value), *_references(c)),
        "links": _links(c, resources),
        "methods": ["TEST"],
        "relevant-evidence": [
            {
                "href": source,
                "description": f"the rows of the control's query: {evidence}"
                if evidence
                else "the control's query returned no rows",
            }
        ],
        "collected": collected,
    }
    if r.status in _STATE:
        observation["types"] = ["finding"]
    if not observation["links"]:
        del observation["links"]
    return observation


def _finding(
    ids: _Ids, r: Result, observation_uuid: str, resources: dict[str, str]
) -> dict[str, Any]:
    c = r.control
    finding: dict[str, Any] = {
        "uuid": ids.of("finding", c.id),
        "title": c.title,
        "description": f"{r.detail or c.title}. {c.rationale}"
        + (f" Fix: {c.fix}" if r.status is Status.FAIL else ""),
        "props": _props(
            ("control", c.id), ("severity", c.severity), ("scope", c.scope), *_references(c)
        ),
        "target": {
            "type": "objective-id",
            "target-id": c.id,
            "title": c.title,
            "status": {"state": _STATE[r.status]},
        },
        "related-observations": [{"observation-uuid": observation_uuid}],
    }
    links = _links(c, resources)
    if links:
        finding["links"] = links
    return finding


def _references(c: Control) -> list[tuple[str, str]]:
    """The control's catalogue references as (property name, value) pairs."""
    refs = [("cis-recommendation", number) for number in c.cis]
    for vuln in c.stig:
        check = STIG.item(vuln)
        refs += [("stig-vuln-id", vuln), ("stig-id", check.stig_id)]
    refs += [("cci", cci) for cci in c.cci]
    return refs


def _links(c: Control, resources: dict[str, str]) -> list[dict[str, str]]:
    links = [
        {"href": f"#{resources['cis']}", "rel": "reference", "text": f"CIS {number}"}
        for number in c.cis
    ]
    links += [
        {"href": f"#{resources['stig']}", "rel": "reference", "text": f"STIG {vuln}"}
        for vuln in c.stig
    ]
    return links


def _catalogue_resource(catalogue: Catalogue, resource_uuid: str) -> dict[str, Any]:
    return {
        "uuid": resource_uuid,
        "title": f"{catalogue.name} {catalogue.version}",
        "props": _props(("catalogue", catalogue.key), ("version", catalogue.version)),
    }


def _props(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "ns": NS, "value": value} for name, value in pairs if value]


def _summary(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[s.value]} {s.value.replace('_', ' ')}" for s in Status if counts[s.value]]
    return ", ".join(parts) or "no controls"


def _end(report: Report) -> str:
    start = dt.datetime.strptime(report.started_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return (start + dt.timedelta(milliseconds=report.duration_ms)).strftime("%Y-%m-%dT%H:%M:%SZ")
