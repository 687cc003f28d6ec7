"""One place that reads the kit's settings: ``-x name=value`` first, then HARDENING_* env vars,
then defaults. Every setting is documented here and listed by ``hardening settings``."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hardening.errors import SettingsError


@dataclass(frozen=True)
class Setting:
    name: str  # the -x name; the env var is HARDENING_<NAME>
    default: str
    doc: str
    # a secret: read from the environment only, ``-x`` refused (a command line is visible to
    # other users in ps and kept in shell history)
    env_only: bool = False

    @property
    def env(self) -> str:
        return f"HARDENING_{self.name.upper()}"


SETTINGS: dict[str, Setting] = {}
# -x names the kit's env.py reads that are not settings.
X_ONLY = ("url",)


def define(name: str, default: str, doc: str, *, env_only: bool = False) -> Setting:
    """Register a setting (modules that own a concern declare theirs at import)."""
    setting = Setting(name, default, doc, env_only)
    SETTINGS[name] = setting
    return setting


# The contract between the migrations, `verify` and the docs. Modules may define more.
define("pgcrypto_schema", "public", "schema that receives the pgcrypto extension")
define(
    "pgcrypto_function_cost",
    "1000",
    "planner COST of pgcrypto's pgp_sym_* functions: large decrypting reads run in parallel",
)
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
    "grant_existing",
    "on",
    "'on' gives the group roles on the tables, views and sequences already in app_schema what "
    "the default privileges give new ones; 'off' leaves them to your own grants",
)
define(
    "server_profile",
    "off",
    "'on' applies the server profile: logging, authentication and TLS settings with ALTER "
    "SYSTEM (superuser, self-managed; `hardening profile` prints them for managed services)",
)


# pgaudit session-audit details (database level). The step that reads each setting is
# declared in hardening.steps (`hardening settings` names it).
define("audit_log_catalog", "off", "pgaudit.log_catalog: also log statements on pg_catalog")
define("audit_log_parameter", "off", "pgaudit.log_parameter: log bind values (keep off: secrets)")
define(
    "audit_log_relation", "on", "pgaudit.log_relation: one line per relation a statement touches"
)
define(
    "audit_log_statement_once",
    "off",
    "pgaudit.log_statement_once: statement text only on the first line of a statement",
)
define("audit_log_level", "log", "pgaudit.log_level: server log level of audit lines")
define("audit_log_client", "off", "pgaudit.log_client: also send audit lines to the client")
# Password policy (enforced by hardening.passwords).
define("password_min_length", "14", "password policy: minimum length in characters (>= 8)")
define(
    "password_max_age_days", "365", "password policy: VALID UNTIL set this many days ahead; 0 none"
)
define("password_history_depth", "5", "password policy: previous passwords a role may not reuse")
define(
    "password_min_strength",
    "3",
    "password policy: minimum zxcvbn score 0-4 (3: safely unguessable, 4: very unguessable)",
)
define(
    "password_pepper",
    "",
    "secret key mixed into the reuse-history digests; environment only, never -x "
    "(empty: unkeyed digests, with a warning)",
    env_only=True,
)
define(
    "password_admin_role",
    "hardening_password_admin",
    "NOLOGIN role whose members may read the password policy and keep the reuse history "
    "(grant it to the CREATEROLE logins that set passwords)",
)
# Least privilege.
define(
    "table_owner_role",
    "",
    "role whose future tables in app_schema get the group roles' default privileges "
    "(empty: the migrating role)",
)
# Server profile (only when server_profile=on).
define(
    "server_log_line_prefix",
    "%m [%p] %q%u@%d app=%a client=%h ",
    "server profile: log_line_prefix; must record time (%m/%t/%n), process (%p/%c), user (%u), "
    "database (%d) and client (%h/%r), as verify's log_line_prefix control checks",
)
define("server_log_statement", "ddl", "server profile: log_statement")
define("server_ssl_min_protocol_version", "TLSv1.3", "server profile: ssl_min_protocol_version")
define(
    "server_ssl_cert_file",
    "",
    "server profile: ssl_cert_file, a path on the server (empty: keep the server's own); ssl is "
    "turned on only once the server can read it and it matches the key",
)
define(
    "server_temp_file_limit",
    "10GB",
    "server profile: temp_file_limit, the temporary file space one session may use (CIS 8.1); "
    "-1 for none",
)
define(
    "server_listen_addresses",
    "",
    "server profile: listen_addresses, the addresses the server listens on (CIS 5.2), e.g. "
    "'10.1.2.3, 127.0.0.1'; empty: left as it is (a restart applies it)",
)
define(
    "server_ssl_key_file",
    "",
    "server profile: ssl_key_file, a path on the server (empty: keep the server's own)",
)
# Encryption keys (read by hardening.keys).
define(
    "keys",
    "",
    "encryption keys 'key_id:base64(32 bytes),...'; the first encrypts, all decrypt "
    "(no default; `hardening keygen` prints an entry); environment only, never -x",
    env_only=True,
)
define(
    "keys_file",
    "",
    "file holding the HARDENING_KEYS text, instead of the variable; environment only",
    env_only=True,
)


def registry() -> dict[str, Setting]:
    """Every setting of the kit, by name."""
    return SETTINGS


def check_x_args(x_args: Mapping[str, str]) -> None:
    """Refuse ``-x`` names the kit does not read (naming the closest known one) and settings
    that are environment only, in one line, before anything connects or changes. Never quotes
    a value: a refused one may be a secret."""
    known = registry()
    allowed = [*X_ONLY, *(s.name for s in known.values() if not s.env_only)]
    problems = []
    for name in x_args:
        if name in allowed:
            continue
        setting = known.get(name)
        if setting is not None:
            problems.append(
                f"-x {name} is refused: it is read from the environment only ({setting.env}), "
                "never from -x, so that secrets stay off command lines (ps shows them, shell "
                "history keeps them)"
            )
            continue
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"-x {name} is not a setting{hint}")
    if problems:
        raise SettingsError(
            "; ".join(problems) + "; nothing was changed (`hardening settings` lists the settings)"
        )


def get(name: str, x_args: Mapping[str, str] | None = None) -> str:
    """The value of setting ``name``: ``-x name=...`` wins over HARDENING_NAME, then the default."""
    setting = SETTINGS[name]
    if x_args and name in x_args:
        return x_args[name]
    return os.environ.get(setting.env, setting.default)


def given(name: str, x_args: Mapping[str, str] | None = None) -> bool:
    """Whether setting ``name`` was passed (``-x`` or HARDENING_NAME) rather than defaulted."""
    return bool(x_args and name in x_args) or SETTINGS[name].env in os.environ


def database_url(x_args: Mapping[str, str] | None = None) -> URL | None:
    """The target database: ``-x url=...`` or DATABASE_URL; None when neither is given.

    ``postgresql://`` and ``postgres://`` URLs are read as psycopg 3 URLs. Every name in
    ``x_args`` is checked first (check_x_args): the kit's env.py passes its whole ``-x`` here
    before it connects or renders SQL.
    """
    if x_args:
        check_x_args(x_args)
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
    except ValueError:
        # make_url's own message may quote the URL (and so its password): name the part.
        raise SettingsError(
            f"the database URL (DATABASE_URL or -x url=...) has {_malformed_part(raw)}; "
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


def _malformed_part(raw: str) -> str:
    """Which part of a URL make_url could not read, without quoting any of it."""
    try:
        parts = urlsplit(raw)
    except ValueError:
        return "a malformed host (an IPv6 address needs both [ and ])"
    try:
        parts.port  # noqa: B018 - read for its ValueError
    except ValueError:
        return "a port that is not a number from 0 to 65535"
    return "a part that cannot be read (check the port and the [IPv6] host)"


def _is_secret(key: str) -> bool:
    """Query parameters of a URL that carry a secret (libpq: password, sslpassword)."""
    return "password" in key.lower()


def url_secrets(url: URL) -> list[str]:
    """Every secret in ``url``: the userinfo password and the values of password-like query
    parameters (``?password=``, ``?sslpassword=``), for scrubbing them from messages."""
    found = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if _is_secret(key):
            values = (value,) if isinstance(value, str) else tuple(value)
            found += [v for v in values if v]
    return found


def display_url(url: URL) -> str:
    """``url`` as it may appear in messages and reports: the userinfo password and every
    password-like query value (``?password=``, ``?sslpassword=``) shown as ``***``."""
    shown = url.set(query={}).render_as_string(hide_password=True)
    pairs = [
        (key, "***" if _is_secret(key) else value)
        for key, values in url.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    ]
    return f"{shown}?{urlencode(pairs, safe='*')}" if pairs else shown


def libpq_dsn(url: URL | str) -> str:
    """Turn a SQLAlchemy URL into a libpq URI psycopg accepts (drops the +driver part).

    Every part is percent-encoded: libpq refuses the raw spaces SQLAlchemy's renderer keeps.
    """
    u = make_url(url) if isinstance(url, str) else url
    auth = ""
    if u.username is not None:
        auth = quote(u.username, safe="")
        if u.password is not None:
            auth += ":" + quote(str(u.password), safe="")
        auth += "@"
    host = f"[{u.host}]" if u.host and ":" in u.host else (u.host or "")
    port = f":{u.port}" if u.port else ""
    query = f"?{urlencode(sorted(u.query.items()), doseq=True)}" if u.query else ""
    return f"postgresql://{auth}{host}{port}/{quote(u.database or '', safe='')}{query}"
