"""`hardening verify --format oscal`: an OSCAL assessment-results document that NIST's
official JSON Schema accepts (tests/data/oscal, see its README for where it comes from), with
one observation per control, a finding per evaluated control, and the catalogue references."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import psycopg
import pytest
import regex  # type: ignore[import-untyped]
from psycopg import sql
from pydantic.v1 import ValidationError as ModelError
from trestle.oscal import OSCAL_VERSION as TRESTLE_OSCAL_VERSION
from trestle.oscal.assessment_results import AssessmentResults

from hardening import cli
from hardening.testing.plugin import PgDatabase
from hardening.verify import Status, run
from hardening.verify.oscal import OSCAL_VERSION, to_oscal

SCHEMA = Path(__file__).parent / "data" / "oscal" / "oscal_assessment-results_schema.json"


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """JSON Schema ``pattern`` with ECMA-262's Unicode classes (``\\p{L}``), which the
    official OSCAL schema uses and Python's ``re`` does not know."""
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


OscalValidator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})


def validate(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``document`` is valid assessment results."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    OscalValidator(schema).validate(document)


def read_as_oscal_1_1(document: dict[str, Any]) -> AssessmentResults:
    """The document as compliance-trestle reads it: its models of OSCAL 1.1.3, generated from
    NIST's 1.1.x schema (the JSON schema above is the 1.2 line's); raises its ValidationError."""
    assert TRESTLE_OSCAL_VERSION == OSCAL_VERSION  # the version the document declares
    return AssessmentResults.parse_obj(document["assessment-results"])


@pytest.fixture
def on_azure(pg_database: PgDatabase) -> PgDatabase:
    """The test database, showing a setting of Azure's: some controls are not applicable."""
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET azure.extensions = 'pgaudit'").format(
                sql.Identifier(pg_database.name)
            )
        )
    return pg_database


def test_the_document_is_valid_and_holds_an_observation_per_control_and_a_finding_per_verdict(
    on_azure: PgDatabase,
) -> None:
    report = run(on_azure.url)
    document = to_oscal(report)
    validate(document)
    model = read_as_oscal_1_1(document)
    assert len(model.results[0].observations or []) == len(report.results)
    assert document == to_oscal(report)  # the same report gives the same document
    body = document["assessment-results"]
    assert body["metadata"]["oscal-version"] == OSCAL_VERSION
    (result,) = body["results"]
    statuses = {r.control.id: r.status for r in report.results}
    assert {Status.PASS, Status.FAIL, Status.NOT_APPLICABLE} <= set(statuses.values())
    observed = {_prop(o, "control"): _prop(o, "status") for o in result["observations"]}
    assert observed == {k: v.value for k, v in statuses.items()}
    verdicts = {
        f["target"]["target-id"]: f["target"]["status"]["state"] for f in result["findings"]
    }
    assert verdicts == {
        k: "satisfied" if v is Status.PASS else "not-satisfied"
        for k, v in statuses.items()
        if v in (Status.PASS, Status.FAIL)
    }
    everything = [body["uuid"], result["uuid"]]
    everything += [o["uuid"] for o in result["observations"]]
    everything += [f["uuid"] for f in result["findings"]]
    everything += [r["uuid"] for r in body["back-matter"]["resources"]]
    assert len(everything) == len(set(everything))


def test_a_finding_names_its_cis_recommendation_stig_ids_and_cci_and_the_fix_when_it_fails(
    pg_database: PgDatabase,
) -> None:
    report = run(pg_database.url, only=["pgaudit_log_classes"])  # fails before the upgrade
    (finding,) = to_oscal(report)["assessment-results"]["results"][0]["findings"]
    control = report.result("pgaudit_log_classes").control
    props = [(p["name"], p["value"]) for p in finding["props"]]
    assert control.cis
    assert control.stig
    assert control.cci
    assert {("cis-recommendation", n) for n in control.cis} <= set(props)
    assert {("stig-vuln-id", v) for v in control.stig} <= set(props)
    assert {("cci", c) for c in control.cci} <= set(props)
    assert finding["target"]["status"]["state"] == "not-satisfied"
    assert finding["description"].endswith(f"Fix: {control.fix}")


def test_the_cli_writes_a_valid_document_and_exits_on_the_failures(
    pg_database: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "assessment-results.json"
    code = cli.main(["verify", "--url", pg_database.dsn, "--format", "oscal", "-o", str(target)])
    capsys.readouterr()
    assert code == 1
    document = json.loads(target.read_text(encoding="utf-8"))
    validate(document)
    read_as_oscal_1_1(document)
    assert "pg-hardening-test" not in target.read_text(encoding="utf-8")  # the server password


@pytest.mark.parametrize(
    "breakage",
    [
        "the finding state is not one OSCAL knows",
        "the result lacks its reviewed controls",
        "a property name is not a token",
    ],
)
def test_the_schema_rejects_a_broken_document(pg_database: PgDatabase, breakage: str) -> None:
    document = to_oscal(run(pg_database.url, only=["pgaudit_installed", "ssl_on"]))
    validate(document)
    broken = copy.deepcopy(document)
    result = broken["assessment-results"]["results"][0]
    if breakage.startswith("the finding state"):
        result["findings"][0]["target"]["status"]["state"] = "mostly-satisfied"
    elif breakage.startswith("the result lacks"):
        del result["reviewed-controls"]
    else:
        result["props"][0]["name"] = "two words"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    with pytest.raises(ModelError):
        read_as_oscal_1_1(broken)


def test_oscal_1_1_tools_refuse_a_property_namespace_that_is_not_a_url(
    pg_database: PgDatabase,
) -> None:
    # A urn: namespace passes the JSON schema but not the OSCAL 1.1 models tools load
    document = to_oscal(run(pg_database.url, only=["pgaudit_installed"]))
    read_as_oscal_1_1(document)
    broken = copy.deepcopy(document)
    broken["assessment-results"]["results"][0]["observations"][0]["props"][0]["ns"] = (
        "urn:pg-hardening:verify"
    )
    validate(broken)
    with pytest.raises(ModelError, match="URL scheme"):
        read_as_oscal_1_1(broken)


def _prop(part: dict[str, Any], name: str) -> str:
    (value,) = [p["value"] for p in part["props"] if p["name"] == name]
    return str(value)
