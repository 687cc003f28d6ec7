"""The ``verify`` controls as pytest tests for your CI: one test per control.

In a test module of your suite::

    import pytest
    from hardening.testing.checks import *  # noqa: F403  (test_hardening_control + fixture)

    @pytest.fixture(scope="session")
    def hardening_url() -> str:
        return os.environ["DATABASE_URL"]          # or a fixture's URL, e.g. hardened_database.url

    @pytest.fixture(scope="session")
    def hardening_scope() -> str:                   # optional: "kit", "server" or "all" (default)
        return "kit"

Each control becomes ``test_hardening_control[<id>]``: it passes, fails with the finding and the
fix, or is skipped (the connecting role cannot evaluate it, or it is outside the chosen scope).
Without a ``hardening_url`` fixture the URL comes from HARDENING_VERIFY_URL, then DATABASE_URL;
without ``hardening_scope``, from HARDENING_VERIFY_SCOPE (default all). The report is computed
once per URL and scope and shared by the tests.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import URL

from hardening.verify import Report, Status, VerifyError, run
from hardening.verify.controls import ids

__all__ = ["hardening_report", "test_hardening_control"]

_REPORTS: dict[tuple[str, str], Report] = {}


def _optional_fixture(request: pytest.FixtureRequest, name: str) -> object | None:
    try:
        value: object = request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return None
    return value


@pytest.fixture
def hardening_report(request: pytest.FixtureRequest) -> Report:
    """The verify report for ``hardening_url`` (or HARDENING_VERIFY_URL / DATABASE_URL)."""
    url = _optional_fixture(request, "hardening_url")
    if url is None:
        url = os.environ.get("HARDENING_VERIFY_URL") or os.environ.get("DATABASE_URL")
    if url is None:
        pytest.skip("no database to verify: define a hardening_url fixture or set DATABASE_URL")
    scope = _optional_fixture(request, "hardening_scope")
    scope = str(scope or os.environ.get("HARDENING_VERIFY_SCOPE", "all"))
    if not isinstance(url, (str, URL)):
        raise TypeError(f"hardening_url must be a URL or a string, not {type(url).__name__}")
    key = (url.render_as_string(hide_password=False) if isinstance(url, URL) else url, scope)
    if key not in _REPORTS:
        try:
            _REPORTS[key] = run(url, scope=scope)
        except VerifyError as exc:
            pytest.fail(f"hardening verify could not run: {exc}", pytrace=False)
    return _REPORTS[key]


@pytest.mark.parametrize("control_id", ids())
def test_hardening_control(control_id: str, hardening_report: Report) -> None:
    """One hardening control: pass, fail with the evidence and the fix, or skip with why."""
    try:
        result = hardening_report.result(control_id)
    except KeyError:
        pytest.skip(f"{control_id} is outside the selected scope")
    if result.status is Status.SKIP:
        pytest.skip(f"{control_id}: {result.detail}")
    if result.status is Status.FAIL:
        pytest.fail(
            f"{control_id} ({result.control.severity}): {result.control.title}\n"
            f"  found: {result.detail}\n  fix: {result.control.fix}",
            pytrace=False,
        )
