"""Real PostgreSQL servers for tests: provisioners (docker, local, url) and a pytest plugin."""

from hardening.testing.provision import Provisioner
from hardening.testing.server import LogCursor, PgServer, ServerStartError

__all__ = ["LogCursor", "PgServer", "Provisioner", "ServerStartError"]
