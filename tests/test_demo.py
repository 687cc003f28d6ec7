"""``make demo`` end to end: it must keep showing the evidence the README promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


def section(text: str, start: str, end: str) -> str:
    """The demo's output from the title containing ``start`` to the one containing ``end``."""
    assert start in text, f"demo output lacks {start!r}"
    assert end in text, f"demo output lacks {end!r}"
    return text.split(start, 1)[1].split(end, 1)[0]


def test_the_demo_hardens_proves_and_restores(request: pytest.FixtureRequest) -> None:
    backend = str(request.config.getoption("--pg-backend"))
    if backend == "url":
        pytest.skip("the demo starts its own server: docker or local backend only")
    version = str(request.config.getoption("--pg-version"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDENING_KEYS")}
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--backend", backend, "--version", version],
        env={**env, "TESTCONTAINERS_RYUK_DISABLED": "true"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert f"backend={backend} postgres={version}" in out
    before = section(out, "kit, before", "kit, after")
    after = section(out, "kit, after", "pgaudit at work")
    assert "exit code 1:" in before
    assert "kit controls fail" in before
    assert "Running upgrade h006_audit_roles -> h007_log_hygiene" in before
    assert "exit code 0: every kit control passes" in after
    for kind in ("DDL,CREATE TABLE", "ROLE,ALTER ROLE", "WRITE,INSERT"):
        assert re.search(rf"AUDIT: SESSION,\d+,\d+,{kind},", out), kind
    assert "the bind parameter (an e-mail address) does not appear in the server log" in out
    assert "ssn='123-45-6789'" in out
    assert "rows whose stored bytes contain a plaintext: 0" in out
    assert "kit controls fail again (the original state)" in out
    assert "Traceback" not in out + proc.stderr
