"""The kit as users get it (issue 11): the wheel (tests/test_packaging.py checks what it
ships), installed into a fresh venv outside the checkout, runs its commands from an empty
directory against a real server, and a user's test file runs on the installed plugin, in an
image the installed kit builds itself.

The installed-kit test is one list of steps, each a command a user would type (README.md's
first section)."""

from __future__ import annotations

import contextlib
import re
import uuid
from pathlib import Path

import pytest

from hardening import steps
from hardening.testing.image import docker_client, image_name
from hardening.testing.plugin import PgDatabase
from tests.installed.conftest import Kit
from tests.roles import unique_roles

HERE = Path(__file__).resolve().parent


def test_the_installed_kit_works_from_an_empty_directory(kit: Kit, pg_database: PgDatabase) -> None:
    url = pg_database.dsn
    # Role settings of this test's own (the server is shared), set the way a user sets them.
    roles = {f"HARDENING_{name.upper()}": role for name, role in unique_roles("wheel").items()}
    found = kit.ok("python", "-c", "import hardening; print(hardening.__file__)").stdout
    assert found.startswith(str(kit.installed.venv)), "the kit ran from elsewhere than the wheel"
    assert re.fullmatch(r"pg-hardening \S+\n", kit.ok("hardening", "--version").stdout)
    keygen = kit.ok("hardening", "keygen", "--id", "k1").stdout
    assert re.fullmatch(r"k1:[A-Za-z0-9+/]{43}=\n", keygen)
    assert "audit_log" in kit.ok("hardening", "settings").stdout

    kit.ok("hardening", "upgrade", "--url", url, **roles)
    kit.ok("hardening", "verify", "--scope", "kit", "--url", url, **roles)
    assert kit.ok("hardening", "current", "--url", url).stdout == f"{steps.STEPS[-1].id} (head)\n"
    kit.ok("hardening", "downgrade", "base", "--url", url, **roles)

    assert list(kit.cwd.iterdir()) == [], "the kit wrote into the directory it ran in"


def test_a_user_s_test_file_runs_on_the_installed_plugin_in_an_image_the_kit_builds(
    kit: Kit, request: pytest.FixtureRequest
) -> None:
    version = int(request.config.getoption("--pg-version"))
    backend = request.config.getoption("--pg-backend")
    (kit.cwd / "test_user_suite.py").write_text((HERE / "user_suite.py").read_text())
    # testcontainers' settings the way a user's machine may hold them, not in the environment:
    # the file then shows that the plugin itself puts nothing there.
    (kit.home / ".testcontainers.properties").write_text("ryuk.disabled=true\n")
    args = ["pytest", "-p", "no:cacheprovider", "-v", f"--pg-backend={backend}"]
    args.append(f"--pg-version={version}")
    # An image name of this test's own: the installed kit builds it (Docker's layer cache makes
    # that quick when this session already built the same content), and nothing shared is
    # replaced. The hash is computed here, from the checkout: the wheel carries the same files.
    template = f"pg-hardening-wheel-{uuid.uuid4().hex[:8]}/postgres:{{version}}-{{context}}"
    built = image_name(version, template)
    if backend == "docker":
        args.append(f"--pg-image={template}")
    elif backend == "url":
        args.append(f"--pg-url={request.config.getoption('--pg-url')}")
    try:
        proc = kit.run(*args, "test_user_suite.py", TESTCONTAINERS_RYUK_DISABLED=None)
    finally:
        if backend == "docker":
            _untag(built)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert re.search(r"\b3 passed\b", proc.stdout), output
    assert f"backend={backend} postgres={version}" in proc.stdout
    if backend == "docker":
        assert f"pg-hardening: building {built} from " in proc.stdout, output


def _untag(name: str) -> None:
    """Remove this test's tag (the image stays while the session's own tag names it)."""
    from docker.errors import ImageNotFound

    with contextlib.suppress(ImageNotFound):
        docker_client().images.remove(name)
