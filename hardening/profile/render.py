"""``hardening profile --format FORMAT``: the server profile as each platform takes it.

Every format prints the artifact on stdout, ready for its tool; notes (what does not apply
there and why, what needs a restart, that every standby needs the same settings) are comments
in the formats that have them (conf, sql, azure, terraform) and lines on stderr for those that
have none (rds: JSON; cloudsql: one flag value).

Example::

    artifact, notes = render("rds", values(get))
    print(artifact)
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping

from hardening.profile.platforms import PLATFORMS, Row, for_platform
from hardening.profile.wanted import LISTS, list_items

FORMATS = tuple(PLATFORMS)
STANDBYS = (
    "every standby needs the same server settings: ALTER SYSTEM and configuration files do "
    "not replicate (the database-level settings of the kit's migrations do)"
)


def render(fmt: str, values: Mapping[str, str], pg_version: int = 17) -> tuple[str, list[str]]:
    """The profile in format ``fmt``: (the artifact, the notes that did not fit in it).

    Args:
        fmt: one of ``FORMATS``.
        values: parameter -> value (``hardening.profile.wanted.values``).
        pg_version: the major version, for Terraform's parameter group family.

    Example::

        text, notes = render("conf", values(lambda name: settings.get(name)))
    """
    rows, skipped = for_platform(fmt, values)
    notes = [STANDBYS]
    restart = [row.name for row in rows if row.restart]
    if restart:
        notes.append(f"{', '.join(restart)}: in effect after a restart of the server")
    if any(row.source == "shared_preload_libraries" for row in rows):
        notes.append(
            "shared_preload_libraries lists the kit's libraries: keep the server's other ones in it"
        )
    if "ssl" in values and "ssl_cert_file" not in values and fmt in ("conf", "sql"):
        notes.append(
            "ssl = on needs a certificate and key the server can read (ssl_cert_file, "
            "ssl_key_file; -x server_ssl_cert_file=... -x server_ssl_key_file=...)"
        )
    notes += [f"{name}: not set here: {why}" for name, why in skipped]
    if fmt == "cloudsql":
        notes.append(
            "gcloud sql instances patch INSTANCE --database-flags=... replaces every flag the "
            "instance has: add the instance's other flags to the value"
        )
    if fmt == "rds":
        notes.append(
            "aws rds modify-db-parameter-group --db-parameter-group-name GROUP --parameters "
            "file://profile.json; shared_preload_libraries replaces the group's list: add the "
            "group's other libraries"
        )
    text = _RENDERERS[fmt](rows, notes, pg_version)
    return text, ([] if fmt in _COMMENTED else notes)


def _conf(rows: list[Row], notes: list[str], pg_version: int) -> str:
    lines = [
        "# pg-hardening server profile: postgresql.conf lines (hardening profile --format conf)",
        *(f"# {note}" for note in notes),
    ]
    for row in rows:
        lines.append(f"{row.name} = {_conf_literal(row.value)}")
    return "\n".join(lines) + "\n"


def _conf_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _sql(rows: list[Row], notes: list[str], pg_version: int) -> str:
    lines = [
        "-- pg-hardening server profile: ALTER SYSTEM as a superuser (hardening profile "
        "--format sql), outside a transaction",
        *(f"-- {note}" for note in notes),
    ]
    for row in rows:
        if row.name == "auth_delay.milliseconds":
            # PostgreSQL 15 refuses ALTER SYSTEM of a library's parameter before it is loaded
            lines.append("LOAD 'auth_delay';")
        items = list_items(row.value) if row.source in LISTS else [row.value]
        literals = ", ".join(_conf_literal(item) for item in items or [""])
        lines.append(f"ALTER SYSTEM SET {row.name} = {literals};")
    lines.append("SELECT pg_reload_conf();")
    return "\n".join(lines) + "\n"


def _rds(rows: list[Row], notes: list[str], pg_version: int) -> str:
    parameters = [
        {
            "ParameterName": row.name,
            "ParameterValue": row.value,
            "ApplyMethod": "pending-reboot" if row.restart else "immediate",
        }
        for row in rows
    ]
    return json.dumps(parameters, indent=2) + "\n"


def _cloudsql(rows: list[Row], notes: list[str], pg_version: int) -> str:
    pairs = [f"{row.name}={row.value}" for row in rows]
    # gcloud splits the list at commas; a value holding one needs another delimiter (^D^)
    delimiter = next(d for d in ",;:|#@~" if not any(d in pair for pair in pairs))
    prefix = "" if delimiter == "," else f"^{delimiter}^"
    return prefix + delimiter.join(pairs) + "\n"


def _azure(rows: list[Row], notes: list[str], pg_version: int) -> str:
    lines = [
        "#!/bin/sh",
        "# pg-hardening server profile: Azure Database for PostgreSQL flexible server",
        "# (hardening profile --format azure). Set RESOURCE_GROUP and SERVER first.",
        *(f"# {note}" for note in notes),
        "set -e",
    ]
    for row in rows:
        lines.append(
            'az postgres flexible-server parameter set --resource-group "$RESOURCE_GROUP" '
            f'--server-name "$SERVER" --name {shlex.quote(row.name)} '
            f"--value {shlex.quote(row.value)}"
        )
    if any(row.restart for row in rows):
        lines.append(
            'az postgres flexible-server restart --resource-group "$RESOURCE_GROUP" '
            '--name "$SERVER"'
        )
    return "\n".join(lines) + "\n"


def _terraform(rows: list[Row], notes: list[str], pg_version: int) -> str:
    lines = [
        "# pg-hardening server profile: an RDS DB parameter group (hardening profile "
        "--format terraform)",
        *(f"# {note}" for note in notes),
        'resource "aws_db_parameter_group" "pg_hardening" {',
        '  name        = "pg-hardening"',
        f'  family      = "postgres{pg_version}"',
        '  description = "pg-hardening server profile"',
    ]
    for row in rows:
        lines += [
            "",
            "  parameter {",
            f"    name         = {json.dumps(row.name)}",
            f"    value        = {_hcl_string(row.value)}",
            f'    apply_method = "{"pending-reboot" if row.restart else "immediate"}"',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _hcl_string(value: str) -> str:
    """A quoted HCL string: JSON's escapes, and ``${`` / ``%{`` (templates) doubled."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


_RENDERERS = {
    "conf": _conf,
    "sql": _sql,
    "rds": _rds,
    "cloudsql": _cloudsql,
    "azure": _azure,
    "terraform": _terraform,
}
_COMMENTED = ("conf", "sql", "azure", "terraform")
