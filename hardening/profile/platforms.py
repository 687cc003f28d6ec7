"""The server profile in each platform's own terms: which parameter a platform names
differently, which it manages itself or forbids (with the reason), and the values it takes.

Where each mapping comes from (docs/migrations.md, *The server profile on every platform*,
lists the pages): AWS RDS parameter groups and
``aws rds modify-db-parameter-group``, Cloud SQL database flags (``gcloud sql instances
patch --database-flags``), Azure Database for PostgreSQL flexible server parameters (``az
postgres flexible-server parameter set``) and Terraform's ``aws_db_parameter_group``.

Example::

    from hardening.profile.platforms import PLATFORMS, for_platform
    rows, skipped = for_platform("rds", values)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from hardening.errors import SettingsError
from hardening.profile.wanted import RESTART

_MANAGED_LOGS = "the service collects and rotates the server log itself"
_NO_HOST = "the service gives no access to the host or its Unix socket"
_CERTS = "the service installs and rotates the server's certificate"
_NOT_OFFERED = "not among the parameters the service lets you set"


@dataclass(frozen=True)
class Platform:
    """How one platform takes server settings.

    Args:
        name: the ``--format`` name.
        title: the platform, for messages.
        renamed: kit parameter -> (the platform's parameter, its value), for a setting the
            platform spells its own way (``ssl`` -> ``rds.force_ssl = 1``).
        skipped: kit parameter -> why it does not apply there.
        numeric: values in the parameter's base unit (``1d`` -> ``1440``), as the service's
            API takes them.
        booleans: (on, off) as the platform writes them (RDS: ``1`` / ``0``).
        preload: the libraries it lets you preload of the kit's (pgaudit, auth_delay).

    Example::

        PLATFORMS["azure"].renamed["ssl"]   # ('require_secure_transport', 'on')
    """

    name: str
    title: str
    renamed: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)
    numeric: bool = False
    booleans: tuple[str, str] = ("on", "off")
    preload: tuple[str, ...] = ("pgaudit", "auth_delay")


# The base unit of the profile's parameters that have one, as the services' APIs take them.
BASE_UNITS = {
    "log_rotation_age": "min",
    "log_rotation_size": "kB",
    "authentication_timeout": "s",
    "temp_file_limit": "kB",
}
_FACTORS = {
    "kB": 1,
    "MB": 1024,
    "GB": 1024**2,
    "TB": 1024**3,
    "ms": 1,
    "s": 1000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}


def in_base_unit(name: str, value: str) -> str:
    """``value`` of ``name`` as a number in the parameter's base unit (``1d`` -> ``1440`` for
    minutes); a plain number, or a name without a unit, unchanged.

    Args:
        name: a parameter of the profile.
        value: its value, as postgresql.conf takes it.

    Example::

        in_base_unit("temp_file_limit", "10GB")   # '10485760'
    """
    base = BASE_UNITS.get(name)
    match = re.fullmatch(r"\s*(-?\d+)\s*([a-zA-Z]*)\s*", value)
    if base is None or match is None or not match.group(2):
        return value
    number, unit = int(match.group(1)), match.group(2)
    if unit not in _FACTORS:
        raise SettingsError(f"{name} = {value!r}: unknown unit {unit!r}")
    return str(number * _FACTORS[unit] // _FACTORS[base])


_SERVER_FILES = {
    "logging_collector": _MANAGED_LOGS,
    "log_file_mode": _MANAGED_LOGS,
    "log_truncate_on_rotation": _MANAGED_LOGS,
    "syslog_sequence_numbers": "the service writes no syslog",
    "syslog_split_messages": "the service writes no syslog",
    "unix_socket_permissions": _NO_HOST,
    "listen_addresses": "the service decides where the server listens (its endpoint, network "
    "rules and private access settings)",
    "ssl_cert_file": _CERTS,
    "ssl_key_file": _CERTS,
}
_AUTH_DELAY = "auth_delay is not among the libraries the service lets you preload"
_RDS_SKIPPED = {
    **_SERVER_FILES,
    "log_line_prefix": "RDS fixes it (%t:%r:%u@%d:[%p]:), which records time, client, user, "
    "database and process",
    "auth_delay.milliseconds": _AUTH_DELAY,
    "ssl_prefer_server_ciphers": _NOT_OFFERED,
}
# Azure creates only allow-listed extensions: the kit's h002 and h005 create these two.
AZURE_EXTENSIONS = "pgaudit,pgcrypto"

PLATFORMS: dict[str, Platform] = {
    "conf": Platform("conf", "postgresql.conf"),
    "sql": Platform("sql", "ALTER SYSTEM"),
    "rds": Platform(
        "rds",
        "AWS RDS for PostgreSQL (DB parameter group)",
        renamed={"ssl": ("rds.force_ssl", "1")},
        skipped=_RDS_SKIPPED,
        numeric=True,
        booleans=("1", "0"),
        preload=("pgaudit",),
    ),
    "cloudsql": Platform(
        "cloudsql",
        "Google Cloud SQL for PostgreSQL (database flags)",
        renamed={"shared_preload_libraries": ("cloudsql.enable_pgaudit", "on")},
        skipped={
            **_SERVER_FILES,
            "ssl": "TLS is an instance setting there, not a flag: gcloud sql instances patch "
            "INSTANCE --ssl-mode=ENCRYPTED_ONLY",
            "ssl_ciphers": "Cloud SQL chooses the cipher suites",
            "ssl_prefer_server_ciphers": "Cloud SQL chooses the cipher suites",
            "ssl_min_protocol_version": "Cloud SQL chooses the TLS versions",
            "log_line_prefix": "Cloud Logging records time, process, user, database and client "
            "in each entry's fields",
            "log_rotation_age": _MANAGED_LOGS,
            "log_rotation_size": _MANAGED_LOGS,
            "log_timezone": "Cloud Logging stamps entries in UTC",
            "auth_delay.milliseconds": _AUTH_DELAY,
            "password_encryption": "Cloud SQL stores passwords as scram-sha-256 by default; the "
            "kit sets it for the database too (step h003)",
            "debug_print_parse": _NOT_OFFERED + " (off there)",
            "debug_print_rewritten": _NOT_OFFERED + " (off there)",
            "debug_print_plan": _NOT_OFFERED + " (off there)",
            "debug_pretty_print": _NOT_OFFERED,
            "authentication_timeout": _NOT_OFFERED,
            "log_replication_commands": _NOT_OFFERED,
        },
        numeric=True,
    ),
    "azure": Platform(
        "azure",
        "Azure Database for PostgreSQL flexible server (server parameters)",
        renamed={"ssl": ("require_secure_transport", "on")},
        skipped={
            **_SERVER_FILES,
            "auth_delay.milliseconds": _AUTH_DELAY,
            "log_rotation_age": _MANAGED_LOGS,
            "log_rotation_size": _MANAGED_LOGS,
            "log_timezone": _NOT_OFFERED + " (logs are stamped in UTC)",
            "ssl_prefer_server_ciphers": _NOT_OFFERED,
        },
        numeric=True,
        preload=("pgaudit",),
    ),
}


@dataclass(frozen=True)
class Row:
    """One parameter as a platform takes it.

    Args:
        name: the platform's parameter name.
        value: its value, as the platform takes it.
        restart: whether it takes effect only after a restart (reboot) of the server.
        source: the kit's parameter it stands for.

    Example::

        Row("rds.force_ssl", "1", False, "ssl")
    """

    name: str
    value: str
    restart: bool
    source: str


def for_platform(
    platform: str, values: Mapping[str, str]
) -> tuple[list[Row], list[tuple[str, str]]]:
    """The profile's ``values`` as ``platform`` takes them, and the parameters that do not
    apply there with the reason, both in the profile's order.

    Args:
        platform: a key of ``PLATFORMS``.
        values: parameter -> value (``hardening.profile.wanted.values``).

    Example::

        rows, skipped = for_platform("rds", values(get))
        skipped[0]   # ('logging_collector', 'the service collects and rotates ...')
    """
    spec = PLATFORMS[platform]
    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    extra = {"azure": [("azure.extensions", AZURE_EXTENSIONS, False)]}.get(platform, [])
    for name, value in values.items():
        if name in spec.skipped:
            skipped.append((name, spec.skipped[name]))
            continue
        if name == "shared_preload_libraries":
            kept = [lib for lib in value.split(",") if lib in spec.preload]
            left = [lib for lib in value.split(",") if lib not in spec.preload]
            if left:
                skipped.append((f"shared_preload_libraries: {', '.join(left)}", _AUTH_DELAY))
            value = ",".join(kept)
        target, shown = spec.renamed.get(name, (name, value))
        if spec.numeric:
            shown = in_base_unit(name, shown)
        if shown in ("on", "off"):
            shown = spec.booleans[0] if shown == "on" else spec.booleans[1]
        rows.append(Row(target, shown, name in RESTART, name))
    rows += [Row(name, value, restart, name) for name, value, restart in extra]
    return rows, skipped


# Terraform's aws_db_parameter_group is an RDS parameter group: the same mapping.
PLATFORMS["terraform"] = replace(
    PLATFORMS["rds"], name="terraform", title="Terraform aws_db_parameter_group (RDS)"
)
