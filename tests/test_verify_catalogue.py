"""The catalogue of controls as data: every CIS PostgreSQL 17 recommendation and every STIG
check is answered by a control or says why SQL cannot answer it, the controls name only items
that exist, and docs/verify.md lists both exactly as the catalogue says."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hardening import sqlfiles
from hardening.verify import CIS, CONTROLS, PROBES, STIG, coverage
from hardening.verify.catalogues import Catalogue
from hardening.verify.controls import get
from tests.test_docs import DOCUMENTED, gaps, public_api

DOCS = Path(__file__).parents[1] / "docs" / "verify.md"
CHECKS = Path(__file__).parents[1] / "sql" / "checks"


def _cell(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values) if values else "-"


def coverage_rows(catalogue: Catalogue) -> list[str]:
    """The coverage table of ``catalogue`` as docs/verify.md must have it, one line a row."""
    rows = []
    for item, control_ids in coverage(catalogue):
        why = item.outside_sql if not control_ids else (f"partly: {item.note}" if item.note else "")
        cells = [item.id]
        if catalogue.key == "stig":
            cells += [item.stig_id, ", ".join(item.cci)]
        cells += [item.title, _cell(control_ids), why]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def control_rows() -> list[str]:
    """The controls table of docs/verify.md, one line a control (probes last)."""
    rows = []
    for c in CONTROLS + PROBES:
        cells = [
            f"`{c.id}`",
            c.scope,
            c.severity,
            ", ".join(c.cis) or "-",
            ", ".join(c.stig) or "-",
            ", ".join(c.pgdsat) or "-",
            c.privilege,
            c.title,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _table_after(heading: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ---"))
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _diff(expected: list[str], found: list[str]) -> str:
    return "\n".join(
        [f"missing: {r}" for r in expected if r not in found]
        + [f"unexpected: {r}" for r in found if r not in expected]
    )


def test_there_are_at_least_90_controls_each_with_its_query() -> None:
    assert len(CONTROLS) >= 90
    ids = [c.id for c in CONTROLS + PROBES]
    assert len(ids) == len(set(ids))
    for control in CONTROLS:
        assert control.fix
        assert control.rationale
        assert control.title
        assert control.privilege
        assert control.scope in ("kit", "server")
        assert control.severity in ("critical", "high", "medium", "low")
        query = sqlfiles.load(control.sql_file)
        assert query.lstrip().startswith("--"), f"{control.id}: the query explains itself"
        for name in control.params:
            assert f"%({name})s" in query, control.id
        for name, _ in control.args:
            assert f"%({name})s" in query, control.id


def test_every_query_file_serves_a_control() -> None:
    shipped = {p.stem for p in CHECKS.glob("*.sql")}
    assert shipped == {c.sql_file.removeprefix("checks/").removesuffix(".sql") for c in CONTROLS}


@pytest.mark.parametrize("catalogue", [CIS, STIG], ids=lambda c: c.key)
def test_every_item_is_answered_by_a_control_or_says_why_sql_cannot(catalogue: Catalogue) -> None:
    answered = coverage(catalogue)
    both = [item.id for item, ids in answered if ids and item.outside_sql]
    neither = [item.id for item, ids in answered if not ids and not item.outside_sql]
    assert (both, neither) == ([], [])
    for item, _ in answered:
        if item.outside_sql:
            assert re.match(r"needs (the|each|a) ", item.outside_sql), item.outside_sql


def test_the_catalogues_are_complete() -> None:
    # CIS PostgreSQL 17 v1.0.0 has 71 recommendations; the Crunchy Data PostgreSQL 16 STIG
    # V1R2 111 checks, V-261857 to V-261967.
    assert len(CIS.items) == 71
    assert [item.id for item in STIG.items] == [f"V-{n}" for n in range(261857, 261968)]
    assert all(re.fullmatch(r"CD16-00-\d{6}", item.stig_id) for item in STIG.items)
    assert all(re.fullmatch(r"CCI-\d{6}", cci) for item in STIG.items for cci in item.cci)


def test_a_control_names_only_items_that_exist_and_carries_their_ccis() -> None:
    for control in CONTROLS + PROBES:
        for number in control.cis:
            CIS.item(number)
        ccis = {cci for vuln in control.stig for cci in STIG.item(vuln).cci}
        assert set(control.cci) == ccis, control.id
    assert get("log_timezone").cci == ("CCI-001890",)
    assert get("password_encryption").cci == ("CCI-000196", "CCI-004062")
    with pytest.raises(KeyError, match="V1R2 has no item 'V-1'"):
        STIG.item("V-1")


@pytest.mark.parametrize("catalogue", [CIS, STIG], ids=lambda c: c.key)
def test_the_coverage_table_in_the_docs_is_the_catalogues(catalogue: Catalogue) -> None:
    found = _table_after(f"### {catalogue.name} {catalogue.version}")
    expected = coverage_rows(catalogue)
    assert found == expected, _diff(expected, found)


def test_the_controls_table_in_the_docs_is_the_catalogue() -> None:
    found = _table_after("## Controls")
    expected = control_rows()
    assert found == expected, _diff(expected, found)


def test_the_coverage_counts_in_the_docs_are_the_catalogues() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for catalogue in (CIS, STIG):
        answered = coverage(catalogue)
        covered = sum(1 for _, ids in answered if ids)
        line = (
            f"{catalogue.name} {catalogue.version}: {len(answered)} items, {covered} answered by "
            f"a control, {len(answered) - covered} that SQL cannot answer"
        )
        assert line in text, line


# --- the API's own documentation ------------------------------------------------------------
# tests/test_docs.py holds every module-level function and class of hardening.verify to the
# kit's docstring form (Args:, Example::); this holds their methods and properties to it too.

VERIFY_MODULES = [
    name
    for name in DOCUMENTED
    if name == "hardening.verify" or name.startswith("hardening.verify.")
]


def _methods() -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    for module_name in VERIFY_MODULES:
        for class_name, cls in public_api(importlib.import_module(module_name)).items():
            if not inspect.isclass(cls):
                continue
            for name, member in vars(cls).items():
                function = member.fget if isinstance(member, property) else member
                if not name.startswith("_") and inspect.isfunction(function):
                    found.append((f"{module_name}.{class_name}.{name}", function))
    return found


@pytest.mark.parametrize("method", [pytest.param(method, id=name) for name, method in _methods()])
def test_every_public_method_documents_its_parameters_with_an_example(
    method: Callable[..., Any],
) -> None:
    assert gaps(method) == []
