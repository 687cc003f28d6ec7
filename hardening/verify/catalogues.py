"""The two catalogues security teams report against, item by item: the CIS PostgreSQL 17
Benchmark v1.0.0 and the DISA Crunchy Data PostgreSQL 16 STIG (V1R2).

Each item is a row of a table in ``hardening/verify/data/`` (tab-separated, reviewable as
is). A control names the items it answers (``Control.cis``, ``Control.stig``); an item no
control names says why SQL over an ordinary connection cannot answer it (``outside_sql``:
it needs the host, a file, the organisation's documentation). ``coverage`` pairs the two,
and the table in docs/verify.md is kept equal to it by a test.

Example::

    from hardening.verify.catalogues import CIS, STIG, coverage
    CIS.item("3.2").title                     # 'Ensure the PostgreSQL Audit Extension ...'
    STIG.item("V-261860").cci                 # ('CCI-000166',)
    [(i.id, ids) for i, ids in coverage(STIG) if ids][:1]
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hardening.verify.model import Control

Key = Literal["cis", "stig"]


@dataclass(frozen=True)
class Item:
    """One recommendation (CIS) or check (STIG).

    Attributes:
        id: ``"3.1.2"`` for CIS, the vulnerability id ``"V-261857"`` for the STIG.
        title: the catalogue's own title (a STIG check's rule title).
        outside_sql: why SQL over a connection cannot answer it, e.g.
            ``"needs the host: systemd units"``; empty when a control covers it.
        note: what a covering control leaves to someone else, e.g. the files' permissions.
        stig_id: the STIG's own id (``CD16-00-000100``); empty for CIS items.
        severity: the STIG's severity (``high``, ``medium``, ``low``); empty for CIS items.
        cci: the STIG check's CCIs; empty for CIS items.

    Example::

        Item("3.1.2", "Ensure the log destinations are set correctly", "", "")
    """

    id: str
    title: str
    outside_sql: str
    note: str
    stig_id: str = ""
    severity: str = ""
    cci: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    """Every item of one catalogue, in its own order.

    Attributes:
        key: ``"cis"`` or ``"stig"``: the ``Control`` field that names this catalogue's items.
        name: how the catalogue calls itself, e.g. ``"CIS PostgreSQL 17 Benchmark"``.
        version: its version, e.g. ``"v1.0.0"``.
        items: its ``Item`` rows, in the catalogue's order.

    Example::

        f"{STIG.name} {STIG.version}: {len(STIG.items)} checks"
    """

    key: Key
    name: str
    version: str
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item:
        """The item ``item_id``; KeyError naming the catalogue when it has none.

        Args:
            item_id: a CIS number (``"3.1.2"``) or a STIG vulnerability id (``"V-261857"``).

        Example::

            CIS.item("3.1.2").title
        """
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"{self.name} {self.version} has no item {item_id!r}")

    def references(self, control: Control) -> tuple[str, ...]:
        """The ids of this catalogue that ``control`` answers.

        Args:
            control: any control, e.g. ``get("log_connections")``.

        Example::

            STIG.references(get("log_connections"))   # ("V-261866", "V-261956", ...)
        """
        return control.cis if self.key == "cis" else control.stig


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("hardening.verify").joinpath("data", filename).read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def _cis() -> Catalogue:
    items = tuple(
        Item(row["number"], row["title"], row["outside_sql"], row["note"])
        for row in _rows("cis-postgresql-17-v1.0.0.tsv")
    )
    return Catalogue("cis", "CIS PostgreSQL 17 Benchmark", "v1.0.0", items)


def _stig() -> Catalogue:
    items = tuple(
        Item(
            row["vuln"],
            row["title"],
            row["outside_sql"],
            row["note"],
            stig_id=row["stig_id"],
            severity=row["severity"],
            cci=tuple(row["cci"].split(",")),
        )
        for row in _rows("stig-crunchy-postgresql-16-v1r2.tsv")
    )
    return Catalogue("stig", "Crunchy Data PostgreSQL 16 STIG", "V1R2", items)


CIS = _cis()
STIG = _stig()
CATALOGUES = (CIS, STIG)


def coverage(
    catalogue: Catalogue, controls: Iterable[Control] | None = None
) -> list[tuple[Item, list[str]]]:
    """Every item of ``catalogue`` with the ids of the controls that answer it, in catalogue
    order.

    Args:
        catalogue: ``CIS`` or ``STIG``.
        controls: the controls to count (default: every control and probe of the kit).

    Example::

        covered = [item.id for item, ids in coverage(CIS) if ids]
    """
    if controls is None:
        from hardening.verify.controls import CONTROLS, PROBES

        controls = CONTROLS + PROBES
    answered: dict[str, list[str]] = {item.id: [] for item in catalogue.items}
    for control in controls:
        for item_id in catalogue.references(control):
            answered[catalogue.item(item_id).id].append(control.id)
    return [(item, answered[item.id]) for item in catalogue.items]
