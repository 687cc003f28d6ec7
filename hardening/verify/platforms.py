"""Fair verdicts on managed services: which one runs the server, and which controls it makes
impossible or does itself.

``detect`` reads what any role can see (``sql/verify/platform.sql``): the service's own roles
(``rds_superuser``, ``cloudsqlsuperuser``, ``azure_pg_admin``), its functions
(``aurora_version``) and its settings (``rds.*``, ``cloudsql.*``, ``azure.*``). On a detected
service, a control in ``SERVICES[name].handled`` reports ``not_applicable`` with the reason and
the service's own control to check instead (never a false ``fail``), and findings about the
service's own roles (``rdsadmin``, ``cloudsqladmin``, ``azuresu``) are left out: no customer
can change them.

Example::

    platform = detect(conn)                      # Platform("rds", ("role rds_superuser",)) or None
    SERVICES["rds"].handled["logging_collector"].instead
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from hardening import sqlfiles
from hardening.verify.model import Platform


@dataclass(frozen=True)
class Handled:
    """Why a control does not apply on a service, and what to check there instead.

    Attributes:
        reason: e.g. ``"Amazon RDS keeps no pg_hba.conf you can read or change"``.
        instead: the service's own control, e.g. ``"the DB parameter group's rds.force_ssl = 1"``.
        show: a setting whose current value is worth showing beside it (``"rds.force_ssl"``),
            or "".

    Example::

        SERVICES["rds"].handled["hba_host_without_ssl"].show   # "rds.force_ssl"
    """

    reason: str
    instead: str
    show: str = ""


@dataclass(frozen=True)
class Service:
    """One managed service.

    Attributes:
        name: ``"rds"``, ``"aurora"``, ``"cloudsql"`` or ``"azure"``.
        title: how the service calls itself, e.g. ``"Amazon RDS for PostgreSQL"``.
        reserved_roles: the service's own roles: findings naming them are left out.
        handled: control id -> ``Handled``.

    Example::

        assert "rdsadmin" in SERVICES["rds"].reserved_roles
    """

    name: str
    title: str
    reserved_roles: frozenset[str]
    handled: Mapping[str, Handled] = field(default_factory=dict)


_LOG_FILES = ("logging_collector", "log_directory", "log_filename", "log_file_mode")
_SYSLOG = ("log_destination_syslog", "syslog_sequence_numbers", "syslog_split_messages")
_NETWORK = ("hba_wide_cidr", "hba_all_databases_users", "listen_addresses")
_AUTHID = ("md5_verifiers", "login_roles_without_password")


def _service(
    name: str,
    title: str,
    reserved_roles: tuple[str, ...],
    *,
    logs: str,
    network: str,
    tls: Handled,
    passwords: str,
    admins: str,
    central_auth: str,
    client_certs: str,
    backups: str,
) -> Service:
    """The table of one service: the same reasons everywhere, the service's own controls."""
    no_hba = f"{title} keeps no pg_hba.conf you can read or change"
    handled: dict[str, Handled] = {}
    for control_id in (*_LOG_FILES, "log_truncate_on_rotation"):
        handled[control_id] = Handled(f"{title} writes and keeps the server log itself", logs)
    for control_id in _SYSLOG:
        handled[control_id] = Handled(f"{title} ships the server log itself, not to syslog", logs)
    for control_id in _NETWORK:
        handled[control_id] = Handled(f"{title}'s network decides who reaches the server", network)
    for control_id in _AUTHID:
        handled[control_id] = Handled(
            f"{title} keeps pg_authid (password verifiers) from its customers", passwords
        )
    handled.update(
        {
            "unix_socket_permissions": Handled(
                f"on {title} only the service has a shell on the host", network
            ),
            "hba_host_without_ssl": Handled(no_hba, tls.instead, tls.show),
            "hba_weak_methods": Handled(no_hba, passwords),
            "hba_remote_superuser": Handled(no_hba, admins),
            "hba_external_auth": Handled(no_hba, central_auth),
            "pki_client_certificates": Handled(no_hba, client_certs),
            "wal_archiving": Handled(f"{title} archives WAL for its own backups", backups),
            "set_user_installed": Handled(f"{title} does not offer set_user", admins),
        }
    )
    return Service(name, title, frozenset(reserved_roles), handled)


_RDS_ROLES = (
    "rdsadmin",
    "rdsrepladmin",
    "rdstopmgr",
    "rdsproxyadmin",
    "rds_superuser",
    "rds_replication",
    "rds_password",
    "rds_iam",
    "rds_ad",
    "rds_reserved",
    "rds_extension",
)


def _aws(name: str, title: str) -> Service:
    return _service(
        name,
        title,
        _RDS_ROLES,
        logs="the instance's log exports to CloudWatch Logs and the DB parameter group's "
        "rds.log_retention_period",
        network="the VPC security groups and the instance's Publicly accessible setting",
        tls=Handled("", "the DB parameter group's rds.force_ssl = 1", "rds.force_ssl"),
        passwords="password_encryption = scram-sha-256 in the DB parameter group, and every "
        "password reset since",
        admins="membership of rds_superuser, kept to named administrators (rdsadmin is the "
        "service's)",
        central_auth="IAM database authentication (rds_iam) or Kerberos",
        client_certs="IAM database authentication: RDS has no client-certificate logins",
        backups="automated backups and their retention period (point-in-time recovery)",
    )


SERVICES: dict[str, Service] = {
    "aurora": _aws("aurora", "Amazon Aurora PostgreSQL"),
    "rds": _aws("rds", "Amazon RDS for PostgreSQL"),
    "cloudsql": _service(
        "cloudsql",
        "Cloud SQL for PostgreSQL",
        (
            "cloudsqladmin",
            "cloudsqlagent",
            "cloudsqlsuperuser",
            "cloudsqlreplica",
            "cloudsqlimportexport",
            "cloudsqliamuser",
            "cloudsqliamserviceaccount",
            "cloudsqllogical",
            "cloudsqlobservability",
        ),
        logs="Cloud Logging (the instance's postgres.log) and its retention",
        network="the instance's authorized networks or private IP",
        tls=Handled(
            "", "the instance's ssl_mode ENCRYPTED_ONLY or TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
        ),
        passwords="the instance's password policy and password_encryption flag",
        admins="membership of cloudsqlsuperuser, kept to named administrators",
        central_auth="IAM database authentication (flag cloudsql.iam_authentication)",
        client_certs="the instance's ssl_mode TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
        backups="automated backups and point-in-time recovery",
    ),
    "azure": _service(
        "azure",
        "Azure Database for PostgreSQL",
        ("azuresu", "azure_superuser", "azure_pg_admin", "replication"),
        logs="the server's diagnostic settings (PostgreSQL logs to Log Analytics)",
        network="the server's firewall rules or private access (virtual network)",
        tls=Handled(
            "", "the server parameter require_secure_transport = on", "require_secure_transport"
        ),
        passwords="azure.accepted_password_auth_method = scram-sha-256 and every password "
        "reset since",
        admins="membership of azure_pg_admin, kept to named administrators (azuresu is the "
        "service's)",
        central_auth="Microsoft Entra ID authentication",
        client_certs="Microsoft Entra ID authentication: the service has no client-certificate "
        "logins",
        backups="the server's backup retention and geo-redundant backup",
    ),
}

# When a server shows the markers of several (Aurora also shows RDS's), the first one wins.
ORDER = ("aurora", "rds", "cloudsql", "azure")


def detect(conn: psycopg.Connection[Any]) -> Platform | None:
    """The managed service ``conn`` runs on, or None for a server of your own.

    Reads only what any role can; a server that refuses even that (a hidden setting of the
    service) is taken for one of your own.

    Args:
        conn: an open connection (autocommit or in a transaction: the query runs in a
            savepoint).

    Example::

        detect(conn)   # Platform("rds", ("role rds_superuser", ...)) on RDS, else None
    """
    try:
        with conn.transaction():
            rows = conn.execute(sqlfiles.load("verify/platform.sql")).fetchall()
    except psycopg.Error:
        return None
    found: dict[str, list[str]] = {}
    for name, marker in rows:
        found.setdefault(str(name), []).append(str(marker))
    for name in ORDER:
        if name in found:
            return Platform(name, tuple(found[name][:5]))
    return None


def handled(platform: Platform | None, control_id: str) -> Handled | None:
    """How ``platform`` handles ``control_id``, or None when the control applies there.

    Args:
        platform: what ``detect`` returned (None: a server of your own, where every control
            applies).
        control_id: a control's id.

    Example::

        handled(Platform("rds", ()), "wal_archiving").instead
    """
    if platform is None:
        return None
    return SERVICES[platform.name].handled.get(control_id)


def reserved_roles(platform: Platform | None) -> frozenset[str]:
    """The roles ``platform`` owns (empty for a server of your own).

    Args:
        platform: what ``detect`` returned.

    Example::

        assert "azuresu" in reserved_roles(Platform("azure", ()))
    """
    return SERVICES[platform.name].reserved_roles if platform else frozenset()
