"""Real PostgreSQL servers for tests: provisioners (docker, local, url) and a pytest plugin."""

from hardening.errors import ServerStartError
from hardening.testing.provision import Provisioner
from hardening.testing.server import LogCursor, PgServer

__all__ = ["LogCursor", "PgServer", "Provisioner", "ServerStartError"]
