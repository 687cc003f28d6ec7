"""pg-hardening: versioned, reversible, tested PostgreSQL hardening for SQLAlchemy applications."""

import importlib
from pathlib import Path

__version__ = "0.1.0"


def migrations_location() -> str:
    """The kit's Alembic version folder, for ``version_locations`` in an application's alembic.ini.

    Inside the repository it is ``migrations/versions``; an installed wheel carries the same
    folder as the package ``hardening.migrations``.

    Returns:
        The folder's absolute path.

    Example (an application's migrations and the kit's, run from Python)::

        from alembic import command
        from alembic.config import Config

        cfg = Config("alembic.ini")
        cfg.set_main_option(
            "version_locations", f"migrations/versions {hardening.migrations_location()}"
        )
        command.upgrade(cfg, "heads")

    In an alembic.ini, the same folder is ``hardening.migrations:versions``.
    """
    pkg = importlib.import_module("hardening.migrations")
    return str(Path(next(iter(pkg.__path__))) / "versions")
