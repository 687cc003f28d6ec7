"""The local backend: a throwaway initdb/pg_ctl cluster from installed PostgreSQL binaries."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import URL

from hardening.errors import ServerStartError
from hardening.testing.certs import self_signed
from hardening.testing.server import PASSWORD, USER, PgServer, tail

# The same rules as the docker image's entrypoint, so both backends answer checks alike (this
# cluster listens on loopback only, so the 0.0.0.0/0 lines admit nobody from elsewhere).
PG_HBA = """\
local    all all               trust
host     all all 127.0.0.1/32  scram-sha-256
host     all all ::1/128       scram-sha-256
hostssl  all all 0.0.0.0/0     scram-sha-256
hostssl  all all ::/0          scram-sha-256
"""


def bindir(version: int) -> Path:
    """Where the server binaries of ``version`` are installed; a clear error when they are not."""
    path = Path(f"/usr/lib/postgresql/{version}/bin")
    if not (path / "initdb").exists():
        raise ServerStartError(
            f"PostgreSQL {version} binaries are not installed at {path}; install "
            f"postgresql-{version} and postgresql-{version}-pgaudit, or use --pg-backend docker"
        )
    return path


def start(version: int, settings: dict[str, str]) -> PgServer:
    """initdb a cluster in a temporary folder and start it on a free loopback port."""
    bins = bindir(version)
    root = Path(tempfile.mkdtemp(prefix=f"pg-hardening-{version}-"))
    data, logfile = root / "data", root / "server.log"
    as_root = os.geteuid() == 0
    (root / "pw").write_text(PASSWORD + "\n")
    _write_certificate(root)
    if as_root:  # initdb refuses root: the cluster belongs to the postgres account
        shutil.chown(root, "postgres", "postgres")
        for item in root.iterdir():
            shutil.chown(item, "postgres", "postgres")

    def run(*cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if as_root else list(cmd)
        proc = subprocess.run(full, capture_output=True, text=True, check=False)  # noqa: S603
        if proc.returncode != 0:
            raise ServerStartError(
                f"{Path(cmd[0]).name} failed for the local PostgreSQL {version} cluster:\n"
                f"{tail(proc.stdout + proc.stderr)}\n{tail(_read(logfile))}"
            )

    run(
        str(bins / "initdb"),
        "-D",
        str(data),
        "-U",
        USER,
        f"--pwfile={root / 'pw'}",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
    )
    (data / "pg_hba.conf").write_text(PG_HBA)
    port = _free_port()
    conf = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(root),
        "shared_preload_libraries": "pgaudit",
        "password_encryption": "scram-sha-256",
        "ssl": "on",
        "ssl_cert_file": str(root / "server.crt"),
        "ssl_key_file": str(root / "server.key"),
        "log_line_prefix": "%m [%p] %q%u@%d ",
        **settings,
    }
    with (data / "postgresql.conf").open("a") as fh:
        fh.write("\n# pg-hardening local backend\n")
        for name, value in conf.items():
            fh.write(f"{name} = '{value}'\n")
    run(str(bins / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", "30", "start")

    def stop() -> None:
        pg_ctl = [str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        full = ["runuser", "-u", "postgres", "--", *pg_ctl] if as_root else pg_ctl
        subprocess.run(full, capture_output=True, check=False)  # noqa: S603
        shutil.rmtree(root, ignore_errors=True)

    def restart() -> URL:
        run(str(bins / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", "30", "restart")
        return url

    url = URL.create(
        "postgresql+psycopg",
        username=USER,
        password=PASSWORD,
        host="127.0.0.1",
        port=port,
        database="postgres",
    )
    return PgServer(
        backend="local",
        url=url,
        read_log=lambda: _read(logfile),
        stop=stop,
        stop_hint=f"runuser -u postgres -- {bins / 'pg_ctl'} -D {data} stop; rm -rf {root}",
        run=lambda argv: _run_beside(bins, root, port, argv),
        stderr_file=str(logfile),
        _restart=restart,
    )


def _run_beside(bins: Path, socket_dir: Path, port: int, argv: Sequence[str]) -> tuple[int, str]:
    """``argv`` as the cluster's OS account, its binaries first, libpq pointed at its socket."""
    env = {
        **os.environ,
        "PATH": f"{bins}:{os.environ.get('PATH', '')}",
        "PGHOST": str(socket_dir),
        "PGPORT": str(port),
        "PGUSER": USER,
        "PGDATABASE": "postgres",
    }
    command = [str(bins / argv[0]) if (bins / argv[0]).exists() else argv[0], *argv[1:]]
    if os.geteuid() == 0:
        keep = "PATH,PGHOST,PGPORT,PGUSER,PGDATABASE"
        command = ["runuser", "-u", "postgres", f"--whitelist-environment={keep}", "--", *command]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    return proc.returncode, proc.stdout + proc.stderr


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_certificate(folder: Path) -> None:
    """A self-signed certificate so the local cluster speaks TLS like the image does."""
    cert, key = self_signed()
    key_path = folder / "server.key"
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    (folder / "server.crt").write_bytes(cert)
