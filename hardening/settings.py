"""One place that reads the kit's settings: ``-x name=value`` first, then HARDENING_* env vars,
then defaults. Every setting is documented here and listed by ``hardening settings``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class SettingsError(ValueError):
    """A setting has a value the kit cannot use; the message names the setting and the fix."""


@dataclass(frozen=True)
class Setting:
    name: str  # the -x name; the env var is HARDENING_<NAME>
    default: str
    doc: str

    @property
    def env(self) -> str:
        return f"HARDENING_{self.name.upper()}"


SETTINGS: dict[str, Setting] = {}


def define(name: str, default: str, doc: str) -> Setting:
    """Register a setting (modules that own a concern declare theirs at import)."""
    setting = Setting(name, default, doc)
    SETTINGS[name] = setting
    return setting


# The contract between the migrations, `verify` and the docs. Modules may define more.
define("pgcrypto_schema", "public", "schema that receives the pgcrypto extension")
define("audit_log", "ddl, role, write", "pgaudit.log classes set for the database")
define(
    "audit_role",
    "hardening_auditor",
    "NOLOGIN object-audit role set as pgaudit.role (on RDS it must be rds_pgaudit)",
)
define(
    "audit_reader_role",
    "hardening_audit_reader",
    "NOLOGIN role that may read settings and the kit's views, nothing else",
)
define(
    "audit_tables",
    "",
    "object-level audit grants, e.g. 'public.users:SELECT;public.cards:SELECT,UPDATE'",
)
define("app_schema", "public", "schema whose future tables get the group roles' privileges")
define("readonly_role", "hardening_readonly", "NOLOGIN group role: SELECT on app tables")
define("readwrite_role", "hardening_readwrite", "NOLOGIN group role: DML on app tables")
define(
    "server_profile",
    "off",
    "'on' applies logging and TLS settings with ALTER SYSTEM (superuser, self-managed)",
)


def get(name: str, x_args: Mapping[str, str] | None = None) -> str:
    """The value of setting ``name``: ``-x name=...`` wins over HARDENING_NAME, then the default."""
    setting = SETTINGS[name]
    if x_args and name in x_args:
        return x_args[name]
    return os.environ.get(setting.env, setting.default)


def database_url(x_args: Mapping[str, str] | None = None) -> URL | None:
    """The target database: ``-x url=...`` or DATABASE_URL; None when neither is given.

    ``postgresql://`` and ``postgres://`` URLs are read as psycopg 3 URLs.
    """
    raw = (x_args or {}).get("url") or os.environ.get("DATABASE_URL")
    if not raw:
        return None
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            "the database URL (DATABASE_URL or -x url=...) is not a URL; "
            "expected postgresql://user:password@host:port/database"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise SettingsError(
            f"the database URL names a {url.get_backend_name()!r} database; "
            "pg-hardening needs a postgresql:// URL"
        )
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url
