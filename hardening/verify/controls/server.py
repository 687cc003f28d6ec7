"""The server itself: runtime parameters that weaken integrity or load foreign code, where
temporary files go, WAL archiving, the release it runs, and the extensions it carries."""

from __future__ import annotations

from hardening.verify.controls._build import OFF, ON, READ_ALL_SETTINGS, SETTINGS, ZERO, setting
from hardening.verify.model import Control, Rule

CONTROLS: tuple[Control, ...] = (
    setting(
        "backend_parameters",
        "no connection-time parameter weakens indexes, JIT or logins",
        Rule("ignore_system_indexes", OFF, "off"),
        Rule("jit_debugging_support", OFF, "off"),
        Rule("jit_profiling_support", OFF, "off"),
        Rule("post_auth_delay", ZERO, "0"),
        severity="low",
        rationale="Parameters fixed when a backend starts can slow every query (no system "
        "indexes), expose JIT internals to debuggers and profilers, or stall every login "
        "(post_auth_delay); they belong to debugging sessions, not to a server in service.",
        fix="Remove these parameters from postgresql.conf, the server's command line and "
        "ALTER ROLE/DATABASE ... SET (RESET), and restart.",
        cis=("6.2",),
    ),
    setting(
        "durability_settings",
        "no setting trades crash safety or checksums away",
        Rule("fsync", ON, "on"),
        Rule("full_page_writes", ON, "on"),
        Rule("zero_damaged_pages", OFF, "off"),
        Rule("ignore_checksum_failure", OFF, "off"),
        Rule("ignore_invalid_pages", OFF, "off"),
        Rule("allow_system_table_mods", OFF, "off"),
        severity="high",
        rationale="fsync and full_page_writes off corrupt the cluster on a crash; "
        "zero_damaged_pages, ignore_checksum_failure and ignore_invalid_pages hide corruption; "
        "allow_system_table_mods lets DDL damage the catalogs. Each is for recovery work, never "
        "for a running service.",
        fix="ALTER SYSTEM RESET each parameter listed (and remove it from postgresql.conf and "
        "the command line), then reload or restart.",
        cis=("6.3", "6.4", "6.5"),
    ),
    setting(
        "lo_compat_privileges",
        "large objects keep their access checks (lo_compat_privileges is off)",
        Rule("lo_compat_privileges", OFF, "off"),
        rationale="lo_compat_privileges = on turns off the permission checks on large objects: "
        "any role can read and overwrite any large object.",
        fix="ALTER SYSTEM SET lo_compat_privileges = off and reload; RESET it for each role or "
        "database listed as overriding it.",
        cis=("6.5",),
    ),
    setting(
        "dynamic_library_path",
        "libraries load only from the installation's own directory",
        Rule("dynamic_library_path", r"^\$libdir$", "$libdir"),
        severity="medium",
        rationale="Extra directories in dynamic_library_path let CREATE FUNCTION ... LANGUAGE C "
        "and LOAD pick up libraries from places the package manager does not control.",
        fix="ALTER SYSTEM SET dynamic_library_path = '$libdir' and reload; RESET it for each "
        "role or database listed as overriding it.",
        privilege=READ_ALL_SETTINGS,
        cis=("8.3",),
    ),
    setting(
        "unix_socket_permissions",
        "the Unix socket is not open to every local user",
        Rule("unix_socket_permissions", r"^0?[0-7][0-7]0$", "0770 or narrower"),
        severity="low",
        rationale="With 0777 any account on the host can reach the login prompt through the "
        "socket; 0770 with unix_socket_group limits it to the database's operators.",
        fix="Set unix_socket_permissions = 0770 (and unix_socket_group) in postgresql.conf and "
        "restart.",
        cis=("8.3",),
    ),
    Control(
        "temp_space_limited",
        "temporary files have their own tablespace or a size limit",
        "low",
        "server",
        "status",
        rationale="A query that spills without limit can fill the data directory's volume and "
        "stop the server; temp_tablespaces moves the spill elsewhere, temp_file_limit caps it.",
        fix="ALTER SYSTEM SET temp_file_limit = '10GB' (or temp_tablespaces = '<tablespace>' on "
        "another volume) and reload.",
        privilege=SETTINGS,
        cis=("8.1",),
    ),
    Control(
        "wal_archiving",
        "WAL is archived, and the archiver's last attempt succeeded",
        "medium",
        "server",
        "status",
        rationale="Without WAL archiving there is no point-in-time recovery; an archiver whose "
        "latest attempt failed is silently falling behind.",
        fix="Set archive_mode = on and archive_command (or archive_library) in postgresql.conf "
        "and restart; see pg_stat_archiver for failures.",
        privilege=SETTINGS,
        cis=("7.4",),
    ),
    Control(
        "server_version_supported",
        "the server's major release is still supported by the PostgreSQL project",
        "high",
        "server",
        "status",
        rationale="A release past its end of life gets no security fixes; every vulnerability "
        "found after that date stays open.",
        fix="Upgrade to a supported major release (pg_upgrade, or dump and restore).",
        stig=("V-261937",),
        args=(("as_of", ""),),
    ),
    Control(
        "extensions_up_to_date",
        "every extension runs the version its installed files provide",
        "low",
        "server",
        "findings",
        rationale="After a package update the new extension files are installed but the "
        "database keeps the old version's SQL objects until ALTER EXTENSION ... UPDATE: fixes "
        "in them are not in effect.",
        fix="ALTER EXTENSION <extension> UPDATE in each database, after reviewing the release "
        "notes.",
        stig=("V-261936",),
    ),
    Control(
        "outside_access_extensions",
        "no extension reaches files, programs or other servers",
        "high",
        "server",
        "findings",
        rationale="adminpack, file_fdw, dblink and postgres_fdw let SQL read or write the "
        "server's files or open connections elsewhere; unless a documented need exists they "
        "widen what a compromised role can reach.",
        fix="DROP EXTENSION <extension> where it is not needed (and document the ones that are).",
        stig=("V-261886", "V-261888"),
    ),
)
