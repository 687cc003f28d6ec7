"""The docker backend's image: named by the hash of what it is built from, built by the kit from
the files the package carries, and, where it cannot be had, one error naming the command that
builds it. Also what the plugin asks of testcontainers' environment: nothing it sets itself."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hardening.errors import ImageUnavailableError, ServerStartError
from hardening.testing import image
from hardening.testing.server import PgServer
from tests.test_cli import hardening

ROOT = Path(__file__).resolve().parent.parent
ABSENT = f"pg-hardening-absent-{uuid.uuid4().hex[:8]}"  # a repository no engine or registry has


def test_the_image_is_named_by_the_version_and_a_hash_of_the_build_context() -> None:
    name = image.image_name(15)
    assert name == f"pg-hardening/postgres:15-{image.context_hash(15)}"
    assert image.context_hash(15) != image.context_hash(17)
    assert image.image_name(15) == name  # the archive is byte for byte the same each time


def test_the_build_context_is_the_packaged_dockerfile_and_entrypoint() -> None:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(image.context_tar())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        dockerfile = tar.extractfile("Dockerfile")
        assert dockerfile is not None
        text = dockerfile.read().decode()
    assert sorted(members) == ["Dockerfile", "entrypoint.sh"]
    assert members["entrypoint.sh"].mode == 0o755
    assert text == (ROOT / "hardening/testing/docker/Dockerfile").read_text()
    assert "FROM ${BASE}" in text


def test_the_repository_builds_its_images_from_the_packaged_files_only() -> None:
    assert sorted(p.name for p in (ROOT / "docker").iterdir()) == ["build.sh"]
    assert "testing-image build" in (ROOT / "docker/build.sh").read_text()


def test_the_session_s_server_runs_the_kit_s_image_found_by_its_hash(
    pg_server: PgServer, request: pytest.FixtureRequest
) -> None:
    if pg_server.backend != "docker" or request.config.getoption("--pg-image"):
        pytest.skip("the session runs no image of the kit's (another backend or --pg-image)")
    version = pg_server.version
    client = image.docker_client()
    labels = client.images.get(image.image_name(version)).labels
    assert labels[image.CONTEXT_LABEL] == image.context_hash(version)
    assert labels[image.BASE_LABEL]


def test_without_the_image_or_a_way_to_build_it_one_error_names_the_build_command() -> None:
    builder = image.ImageBuilder(
        client=image.docker_client(),
        official=ABSENT + "/postgres:{version}",
        debian_base=ABSENT + "/debian-base:{suite}",
        debootstrap=None,
    )
    with pytest.raises(ImageUnavailableError) as caught:
        builder.ensure(17, template=ABSENT + "/pg:{version}-{context}")
    message = str(caught.value)
    assert isinstance(caught.value, ServerStartError)
    assert "`hardening testing-image build 17`" in message
    assert f"{ABSENT}/postgres:17 cannot be pulled" in message
    assert "debootstrap is not installed" in message
    assert "--base IMAGE" in message
    assert "\n" not in message


def test_a_version_without_an_image_is_refused_before_anything_is_pulled() -> None:
    builder = image.ImageBuilder(client=None, debootstrap=None)
    with pytest.raises(ImageUnavailableError, match="PostgreSQL 16: choose one of"):
        builder.ensure(16)


def test_the_build_command_prints_only_the_image_name_on_stdout(pg_server: PgServer) -> None:
    if pg_server.backend != "docker":
        pytest.skip("needs a Docker engine")
    proc = hardening("testing-image", "build", str(pg_server.version))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == image.image_name(pg_server.version) + "\n"


def test_the_build_command_refuses_a_name_without_the_content_hash() -> None:
    proc = hardening("testing-image", "build", "15", "--image", "mine/pg:{version}")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "has no {context}" in proc.stderr


def test_without_ryuk_s_image_the_run_is_told_which_variable_to_set(tmp_path: Path) -> None:
    """testcontainers' cleanup container is the user's choice: the plugin never disables it,
    and says what to set where its image cannot be pulled."""
    env = {k: v for k, v in os.environ.items() if k != "TESTCONTAINERS_RYUK_DISABLED"}
    env.update(HOME=str(tmp_path), RYUK_CONTAINER_IMAGE=f"{ABSENT}/ryuk:0")
    code = "from hardening.testing.container import ryuk_problem; print(ryuk_problem())"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{ABSENT}/ryuk:0" in proc.stdout
    assert "set TESTCONTAINERS_RYUK_DISABLED=true" in proc.stdout
    assert "never sets it" in proc.stdout
