"""The docker backend's image: built from the Dockerfile and entrypoint this package carries
(``hardening/testing/docker/``), tagged by a hash of that content, reused while it stays the same.

The image is ``pg-hardening/postgres:{version}-{context}``, ``{context}`` being the first 12
hex digits of a SHA-256 over the build context and the PostgreSQL version: a kit release that
changes the files builds a new image, one that does not reuses the old one, and images built
by hand or by another tool under other names are never replaced. The plugin builds it on first
use; ``hardening testing-image build 15 17`` builds it ahead (in a CI step, say).

The base, in order of preference:

1. ``postgres:{version}`` (the official image) when the engine already has it;
2. ``pg-hardening/debian-base:{suite}`` when the engine already has it (made before, step 4);
3. ``postgres:{version}`` pulled from the registry;
4. ``pg-hardening/debian-base:{suite}`` made with ``debootstrap --variant=minbase`` and
   ``docker import``, for machines that reach Debian's archive but no container registry
   (root and debootstrap needed). Bookworm packages PostgreSQL 15, trixie 17.

Without any of them, ``ImageUnavailableError`` says what was tried and how to get the image.

Example::

    from hardening.testing.image import ImageBuilder

    name = ImageBuilder.from_env().ensure(17)  # found, or built now
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from hardening.errors import ImageUnavailableError, ServerStartError

DEFAULT_TEMPLATE = "pg-hardening/postgres:{version}-{context}"
OFFICIAL = "postgres:{version}"
DEBIAN_BASE = "pg-hardening/debian-base:{suite}"
SUITES = {15: "bookworm", 17: "trixie"}
CONTEXT_LABEL = "org.pg-hardening.context"
BASE_LABEL = "org.pg-hardening.base"
# The build context, with the mode each file gets in it (the same from a checkout or a wheel).
CONTEXT_FILES = {"Dockerfile": 0o644, "entrypoint.sh": 0o755}


def build_command(version: int | None = None) -> str:
    """The command that builds the image of ``version``, for messages that name the fix.

    Args:
        version: a PostgreSQL major version, or None for every version.

    Example::

        build_command(17)   # 'hardening testing-image build 17'
    """
    return "hardening testing-image build " + (str(version) if version else "15 17")


def context_tar() -> bytes:
    """The build context as a tar archive, byte for byte the same wherever the kit is installed
    (fixed order, modes, owner and times), so equal content gives an equal hash.

    Example::

        client.api.build(fileobj=io.BytesIO(context_tar()), custom_context=True, ...)
    """
    folder = resources.files("hardening.testing") / "docker"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, mode in CONTEXT_FILES.items():
            data = (folder / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def context_hash(version: int) -> str:
    """12 hex digits naming what the image of ``version`` is built from.

    Args:
        version: the PostgreSQL major version (a build argument, so part of the hash).

    Example::

        context_hash(15)   # '3f2a9c0b1d4e'
    """
    digest = hashlib.sha256(context_tar())
    digest.update(f"\0PG_MAJOR={version}".encode())
    return digest.hexdigest()[:12]


def image_name(version: int, template: str = DEFAULT_TEMPLATE) -> str:
    """``template`` with ``{version}`` and ``{context}`` filled in.

    Args:
        version: the PostgreSQL major version.
        template: an image name with ``{version}`` and (for the kit's image) ``{context}``.

    Example::

        image_name(15)   # 'pg-hardening/postgres:15-3f2a9c0b1d4e'
    """
    return template.format(version=version, context=context_hash(version))


def is_kit_template(template: str) -> bool:
    """Whether ``template`` names the kit's own image (it has ``{context}``): such an image
    is built when missing. Any other name is an image of the user's, used as it is.

    Args:
        template: an image name template (``--pg-image``).

    Example::

        is_kit_template("ghcr.io/acme/pg:{version}-{context}")   # True
    """
    return "{context}" in template


def docker_client() -> Any:
    """The docker SDK client testcontainers uses (same engine, same settings); a
    ``ServerStartError`` when testcontainers is not installed.

    Example::

        ImageBuilder(client=docker_client()).ensure(15)
    """
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError as exc:
        raise ServerStartError(
            "the docker backend needs testcontainers: pip install 'pg-hardening[testing]'"
        ) from exc
    return DockerClient().client


def _silent(line: str) -> None:
    """Progress sink that drops the line."""


@dataclass
class ImageBuilder:
    """Finds or builds the kit's test image through one Docker engine.

    Args:
        client: a ``docker.DockerClient``.
        official: template of the official image (``{version}``).
        debian_base: template of the debootstrap-made base (``{suite}``).
        debootstrap: path of debootstrap, None when it cannot be used.
        progress: called with one line before each slow step (pull, debootstrap, build).

    Example::

        builder = ImageBuilder(client=docker_client(), progress=print)
        builder.ensure(17)   # 'pg-hardening/postgres:17-…', built if the engine lacks it
    """

    client: Any
    official: str = OFFICIAL
    debian_base: str = DEBIAN_BASE
    debootstrap: str | None = field(default_factory=lambda: shutil.which("debootstrap"))
    progress: Callable[[str], None] = _silent

    @classmethod
    def from_env(cls, progress: Callable[[str], None] | None = None) -> ImageBuilder:
        """A builder on the engine testcontainers uses, reporting to ``progress``."""
        return cls(client=docker_client(), progress=progress or _silent)

    def ensure(
        self, version: int, template: str = DEFAULT_TEMPLATE, base: str | None = None
    ) -> str:
        """The name of the kit's image for ``version``: found in the engine, else pulled (for a
        ``template`` outside ``pg-hardening/``, such as a CI's own registry), else built from
        ``base`` (chosen as the module says when None). Concurrent calls build it once."""
        if version not in SUITES:
            raise ImageUnavailableError(
                f"no test image for PostgreSQL {version}: choose one of {sorted(SUITES)}"
            )
        name = image_name(version, template)
        context = context_hash(version)
        if self._is_built(name, context):
            return name
        with _file_lock(f"image-{context}"):
            if self._is_built(name, context):  # another process built it while this one waited
                return name
            pulled = not name.startswith("pg-hardening/") and self._pull(name) is None
            if pulled and self._is_built(name, context):
                return name
            self._build(version, name, context, base or self.choose_base(version))
        return name

    def choose_base(self, version: int) -> str:
        """The base image to build ``version``'s image from; makes or pulls it if it must."""
        official = self.official.format(version=version)
        suite = SUITES[version]
        debian = self.debian_base.format(suite=suite)
        for candidate in (official, debian):
            if self._exists(candidate):
                return candidate
        refused = self._pull(official)
        if refused is None:
            return official
        if self.debootstrap and os.geteuid() == 0:
            return self._make_debian_base(suite, debian)
        why_not = "debootstrap is not installed" if not self.debootstrap else "this is not root"
        raise ImageUnavailableError(
            f"no PostgreSQL {version} test image and no way to build it here: {official} "
            f"cannot be pulled ({refused}) and {debian} cannot be made without a registry "
            f"({why_not}). Where a registry or root with debootstrap is available, run "
            f"`{build_command(version)}`; or build from a base you have: "
            f"`{build_command(version)} --base IMAGE` (official postgres:{version} or "
            f"debian:{suite}); or pass --pg-image an image of your own"
        )

    def _exists(self, name: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(name)
        except ImageNotFound:
            return False
        return True

    def _is_built(self, name: str, context: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            labels = self.client.images.get(name).labels or {}
        except ImageNotFound:
            return False
        return bool(labels.get(CONTEXT_LABEL) == context)

    def _pull(self, name: str) -> str | None:
        """None when ``name`` was pulled, else the registry's reason in one line."""
        from docker.errors import APIError
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(name)
        self.progress(f"pulling {name}")
        try:
            self.client.images.pull(repository, tag=tag or "latest")
        except APIError as exc:
            return str(exc.explanation or exc).splitlines()[0]
        return None

    def _make_debian_base(self, suite: str, name: str) -> str:
        from docker.utils import parse_repository_tag

        assert self.debootstrap is not None
        with _file_lock(f"base-{suite}"):
            if self._exists(name):
                return name
            self.progress(f"making {name} with debootstrap (no registry needed; about a minute)")
            with tempfile.TemporaryDirectory(prefix=f"pg-hardening-rootfs-{suite}-") as tmp:
                rootfs, archive = os.path.join(tmp, "rootfs"), os.path.join(tmp, "rootfs.tar")
                _run([self.debootstrap, "--variant=minbase", suite, rootfs], f"debootstrap {suite}")
                _run(["tar", "-C", rootfs, "-cf", archive, "."], f"archiving the {suite} rootfs")
                repository, tag = parse_repository_tag(name)
                self.client.api.import_image_from_file(archive, repository=repository, tag=tag)
        return name

    def _build(self, version: int, name: str, context: str, base: str) -> None:
        self.progress(f"building {name} from {base} (first use; a minute or two)")
        # Host networking: where the engine's bridge has no route out, apt still reaches the
        # archive; where it has one, nothing changes.
        stream = self.client.api.build(
            fileobj=io.BytesIO(context_tar()),
            custom_context=True,
            tag=name,
            buildargs={"BASE": base, "PG_MAJOR": str(version)},
            labels={CONTEXT_LABEL: context, BASE_LABEL: base},
            network_mode="host",
            rm=True,
            forcerm=True,
            decode=True,
        )
        log: list[str] = []
        for chunk in stream:
            log.extend(str(chunk.get("stream", "")).splitlines())
            if "error" in chunk:
                tail = "\n".join(log[-30:])
                raise ImageUnavailableError(
                    f"building {name} from {base} failed: {chunk['error'].strip()}\n{tail}"
                )
        self.progress(f"built {name}")


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise ImageUnavailableError(f"{what} failed (exit {proc.returncode}):\n{tail}")


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """An exclusive lock between processes of this machine (test runs side by side, xdist)."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): concurrent runs may build twice, harmlessly
        yield
        return
    path = os.path.join(tempfile.gettempdir(), f"pg-hardening-{name}.lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
