"""The catalog: every control ``hardening verify`` evaluates, as data.

References name the CIS PostgreSQL Benchmark recommendation (the numbering pgdsat reports
too) where one exists. Each control's query is ``sql/checks/<id>.sql``.
"""

from __future__ import annotations

from hardening import steps
from hardening.verify.model import Control

_SETTINGS = "any role (pg_settings)"
_READ_ALL_SETTINGS = "superuser or pg_read_all_settings"
_SUPERUSER = "superuser (pg_authid)"
_HBA = "superuser (pg_hba_file_rules)"


def _setting(
    id: str,
    title: str,
    cis: str,
    fix: str,
    rationale: str,
    severity: str = "medium",
) -> Control:
    """A server logging setting of CIS section 3.1, read from pg_settings."""
    return Control(
        id=id,
        title=title,
        severity=severity,  # type: ignore[arg-type]
        scope="server",
        evaluator="status",
        rationale=rationale,
        fix=fix,
        privilege=_SETTINGS,
        cis=cis,
        pgdsat=cis,
    )


CONTROLS: tuple[Control, ...] = (
    # --- pgaudit -------------------------------------------------------------------------
    Control(
        "pgaudit_preloaded",
        "pgaudit is in shared_preload_libraries",
        "critical",
        "server",
        "status",
        "pgaudit hooks the executor only when the server loads it at start; without it no "
        "session or object audit record is written.",
        "Add pgaudit to shared_preload_libraries and restart (RDS: parameter group; Cloud SQL: "
        "flag cloudsql.enable_pgaudit=on; Azure: azure.extensions and shared_preload_libraries).",
        _READ_ALL_SETTINGS,
        "3.2",
        "3.2",
    ),
    Control(
        "pgaudit_installed",
        "the pgaudit extension is created in this database",
        "high",
        "kit",
        "status",
        "CREATE EXTENSION pgaudit installs the event triggers that give DDL records their "
        "object names; the kit's audit settings presume it.",
        "Run `alembic upgrade head` (or CREATE EXTENSION pgaudit as a superuser).",
        cis="3.2",
        pgdsat="3.2",
    ),
    Control(
        "pgaudit_log_classes",
        "pgaudit.log includes the ddl, role and write classes",
        "high",
        "kit",
        "status",
        "Schema changes, role and privilege changes and data modification are the events an "
        "auditor asks for; pgaudit.log decides which classes are recorded.",
        "Run `alembic upgrade head` (sets pgaudit.log = 'ddl, role, write' on the database) or "
        "ALTER DATABASE <db> SET pgaudit.log = 'ddl, role, write'.",
        cis="3.2",
        pgdsat="3.2",
    ),
    Control(
        "pgaudit_not_silenced",
        "no database- or role-level setting narrows pgaudit.log or hides its lines",
        "high",
        "kit",
        "findings",
        "ALTER ROLE ... SET pgaudit.log = 'none' (or a database-level override) silently "
        "exempts a role or database from auditing, and so does a log_min_messages above "
        "pgaudit.log_level (the server discards pgaudit's lines); pg_db_role_setting shows every "
        "such override.",
        "ALTER ROLE <role> [IN DATABASE <db>] RESET pgaudit.log (or log_min_messages), or set "
        "pgaudit.log to a value that includes ddl, role and write.",
        cis="3.2",
        pgdsat="3.2",
    ),
    Control(
        "pgaudit_log_parameter_off",
        "pgaudit.log_parameter is off",
        "high",
        "kit",
        "status",
        "With log_parameter on, bind parameters (passwords, encryption keys, personal data) "
        "are copied into every audit record.",
        "Run `alembic upgrade head` or ALTER DATABASE <db> SET pgaudit.log_parameter = off; "
        "ALTER ROLE <role> [IN DATABASE <db>] RESET it for each override listed.",
    ),
    Control(
        "pgaudit_role_nologin",
        "pgaudit.role names an existing NOLOGIN role",
        "medium",
        "kit",
        "status",
        "Object-level audit works through the grants of pgaudit.role; a role nobody can log in "
        "as cannot be used to read data or to tamper with what is audited.",
        "Run `alembic upgrade head` (creates the NOLOGIN audit role and sets pgaudit.role; on RDS "
        "the role must be rds_pgaudit); RESET pgaudit.role for each role or database listed as "
        "overriding it.",
        params=("audit_role",),
    ),
    Control(
        "pgaudit_log_relation",
        "pgaudit.log_relation is on",
        "low",
        "kit",
        "status",
        "One audit record per relation a statement touches names every table read or written, "
        "not only the first one.",
        "Run `alembic upgrade head` or ALTER DATABASE <db> SET pgaudit.log_relation = on; "
        "ALTER ROLE <role> [IN DATABASE <db>] RESET it for each override listed.",
    ),
    Control(
        "pgaudit_log_catalog_off",
        "pgaudit.log_catalog is off",
        "low",
        "kit",
        "status",
        "Statements that only touch pg_catalog (psql's \\d, driver introspection) flood the "
        "audit log and bury the records that matter.",
        "Run `alembic upgrade head` or ALTER DATABASE <db> SET pgaudit.log_catalog = off; "
        "ALTER ROLE <role> [IN DATABASE <db>] RESET it for each override listed.",
    ),
    # --- logging (CIS 3.1) ----------------------------------------------------------------
    _setting(
        "log_destination",
        "log_destination names at least one destination",
        "3.1.2",
        "ALTER SYSTEM SET log_destination = 'csvlog' (or stderr/jsonlog/syslog) and reload.",
        "The server log is the audit trail's carrier: it must go somewhere that is collected.",
    ),
    _setting(
        "logging_collector",
        "logging_collector is on",
        "3.1.3",
        "ALTER SYSTEM SET logging_collector = on and restart (managed services collect logs "
        "themselves: accept the finding there).",
        "The collector writes stderr/csvlog output to rotated files that are not lost with a "
        "terminal or a container's output, and lets SQL read the log (pg_current_logfile).",
    ),
    _setting(
        "log_file_mode",
        "log files are created with mode 0600",
        "3.1.6",
        "ALTER SYSTEM SET log_file_mode = '0600' and reload.",
        "Log files hold statements and error details; other operating-system users must not "
        "read them.",
    ),
    _setting(
        "log_truncate_on_rotation",
        "log_truncate_on_rotation is on",
        "3.1.7",
        "ALTER SYSTEM SET log_truncate_on_rotation = on and reload.",
        "Time-based rotation that reuses a file name should replace old content predictably "
        "rather than grow without bound.",
        severity="low",
    ),
    _setting(
        "log_min_messages",
        "log_min_messages is warning or more verbose",
        "3.1.14",
        "ALTER SYSTEM SET log_min_messages = 'warning' and reload; ALTER ROLE <role> [IN "
        "DATABASE <db>] RESET log_min_messages for each override listed.",
        "Warnings and errors are the first signs of probing and misuse; a level above warning "
        "drops them.",
    ),
    _setting(
        "log_min_error_statement",
        "log_min_error_statement is error or more verbose",
        "3.1.15",
        "ALTER SYSTEM SET log_min_error_statement = 'error' and reload.",
        "The statement that caused an error (an injection attempt, a denied access) must be "
        "logged with the error.",
    ),
    _setting(
        "debug_print_parse",
        "debug_print_parse is off",
        "3.1.16",
        "ALTER SYSTEM SET debug_print_parse = off and reload.",
        "Parse trees in the log leak query details and flood the log.",
        severity="low",
    ),
    _setting(
        "debug_print_rewritten",
        "debug_print_rewritten is off",
        "3.1.17",
        "ALTER SYSTEM SET debug_print_rewritten = off and reload.",
        "Rewritten query trees in the log leak query details and flood the log.",
        severity="low",
    ),
    _setting(
        "debug_print_plan",
        "debug_print_plan is off",
        "3.1.18",
        "ALTER SYSTEM SET debug_print_plan = off and reload.",
        "Plan trees in the log leak query details and flood the log.",
        severity="low",
    ),
    _setting(
        "debug_pretty_print",
        "debug_pretty_print is on",
        "3.1.19",
        "ALTER SYSTEM SET debug_pretty_print = on and reload.",
        "If debug output is ever enabled it should at least be readable.",
        severity="low",
    ),
    _setting(
        "log_connections",
        "log_connections is on",
        "3.1.20",
        "ALTER SYSTEM SET log_connections = on and reload (RDS/Cloud SQL/Azure: the "
        "log_connections parameter or flag).",
        "Who connected, from where and when is the first question of every investigation.",
    ),
    _setting(
        "log_disconnections",
        "log_disconnections is on",
        "3.1.21",
        "ALTER SYSTEM SET log_disconnections = on and reload.",
        "Disconnection records give every session a duration and close the connection record.",
    ),
    _setting(
        "log_error_verbosity",
        "log_error_verbosity is verbose",
        "3.1.22",
        "ALTER SYSTEM SET log_error_verbosity = 'verbose' and reload.",
        "Verbose error records carry the SQLSTATE and source location an investigation needs.",
        severity="low",
    ),
    _setting(
        "log_hostname",
        "log_hostname is off",
        "3.1.23",
        "ALTER SYSTEM SET log_hostname = off and reload.",
        "Reverse DNS at every connection slows logins and records names an attacker may control; "
        "log the IP address.",
        severity="low",
    ),
    _setting(
        "log_line_prefix",
        "log_line_prefix records time, process, user, database and client",
        "3.1.24",
        "ALTER SYSTEM SET log_line_prefix = '%m [%p]: user=%u,db=%d,app=%a,client=%h ' and reload.",
        "A log line that does not say when, which session, who, in which database and from "
        "where cannot be attributed.",
    ),
    _setting(
        "log_statement",
        "log_statement records at least DDL",
        "3.1.25",
        "ALTER SYSTEM SET log_statement = 'ddl' and reload (keep log_parameter_max_length = 0 "
        "with 'mod' or 'all').",
        "Schema changes must leave a trace in the server log even where pgaudit is unavailable.",
    ),
    _setting(
        "log_timezone",
        "log_timezone is UTC",
        "3.1.26",
        "ALTER SYSTEM SET log_timezone = 'UTC' and reload.",
        "Log times from many servers can only be correlated on one unambiguous time zone.",
        severity="low",
    ),
    Control(
        "log_parameter_max_length",
        "log_parameter_max_length is 0 (no bind parameters in statement logs)",
        "high",
        "kit",
        "status",
        "With log_statement or log_min_duration_statement, bind parameters (pgcrypto keys, "
        "plaintext values) are written to the log as DETAIL: parameters: $1 = '...'.",
        "Run `alembic upgrade head` or ALTER DATABASE <db> SET log_parameter_max_length = 0; "
        "RESET it for each role or database listed as overriding it.",
    ),
    Control(
        "log_parameter_max_length_on_error",
        "log_parameter_max_length_on_error is 0 (no bind parameters in error logs)",
        "high",
        "kit",
        "status",
        "A failing statement would otherwise log its bind parameters (keys, plaintext) in the "
        "error's context.",
        "Run `alembic upgrade head` or ALTER DATABASE <db> SET "
        "log_parameter_max_length_on_error = 0; RESET it for each role or database listed as "
        "overriding it.",
    ),
    # --- authentication -------------------------------------------------------------------
    Control(
        "password_encryption",
        "password_encryption is scram-sha-256",
        "high",
        "kit",
        "status",
        "MD5 verifiers are replayable and crackable; new passwords must be stored as SCRAM.",
        "Run `alembic upgrade head` (sets it on the database) and "
        "ALTER SYSTEM SET password_encryption = 'scram-sha-256'; RESET it for each role or "
        "database listed as overriding it.",
        pgdsat="5.12",
    ),
    Control(
        "md5_verifiers",
        "no role keeps an MD5 password verifier",
        "high",
        "server",
        "findings",
        "An MD5 verifier is equivalent to the password for md5 authentication and is cheap to "
        "crack; MD5 password support is deprecated.",
        "Reset each listed role's password with password_encryption = 'scram-sha-256' (the "
        "kit's password tools hash with SCRAM on the client).",
        _SUPERUSER,
        pgdsat="5.12",
    ),
    Control(
        "login_roles_without_password",
        "every login role has a password",
        "medium",
        "server",
        "findings",
        "A login role without a password depends entirely on pg_hba.conf (trust, peer, cert) "
        "and becomes open the day a broad rule is added.",
        "Give each role a password (SCRAM) or make it NOLOGIN; or document its cert/peer login.",
        _SUPERUSER,
    ),
    Control(
        "login_roles_without_expiry",
        "every login role has a password expiry (VALID UNTIL)",
        "low",
        "server",
        "findings",
        "Passwords that never expire outlive the people and systems that knew them.",
        "ALTER ROLE <role> VALID UNTIL '<date>' and rotate before it (the kit's password "
        "policy sets expiry when it sets a password).",
    ),
    Control(
        "hba_weak_methods",
        "no pg_hba rule uses trust, password or md5",
        "critical",
        "server",
        "findings",
        "trust admits anyone who can reach the socket; password sends the password in clear; "
        "md5 is replayable-hash authentication.",
        "Change those pg_hba.conf lines to scram-sha-256 (or peer for local) and reload.",
        _HBA,
        cis="5.3, 5.4",
        pgdsat="5.3, 5.4",
    ),
    Control(
        "hba_wide_cidr",
        "no pg_hba rule admits a wide address range",
        "medium",
        "server",
        "findings",
        "Rules for 0.0.0.0/0, ::/0, 'all' or short prefixes admit the whole network (or the "
        "internet) to the password prompt.",
        "Restrict each rule to the application's subnets (IPv4 /16 or narrower, IPv6 /48 or "
        "narrower) and reload.",
        _HBA,
        pgdsat="5.9",
    ),
    Control(
        "hba_remote_superuser",
        "superusers cannot log in over the network",
        "high",
        "server",
        "findings",
        "A superuser password that works from the network is the single most valuable target; "
        "administrators should come in through a local socket or a bastion.",
        "Add `host all postgres 0.0.0.0/0 reject` (and ::/0) before the broad rules, or name "
        "the application roles instead of 'all', and reload.",
        _HBA,
        pgdsat="5.11",
    ),
    Control(
        "hba_host_without_ssl",
        "remote pg_hba rules require TLS (hostssl)",
        "high",
        "server",
        "findings",
        "A `host` or `hostnossl` rule for a non-loopback address accepts unencrypted sessions: "
        "credentials exchange and data travel in clear.",
        "Change `host` to `hostssl` for non-loopback addresses and reload.",
        _HBA,
        cis="6.8",
        pgdsat="5.8",
    ),
    Control(
        "authentication_timeout",
        "authentication_timeout is at most 60 seconds",
        "low",
        "server",
        "status",
        "Half-open authentications hold connection slots; a short timeout limits slot exhaustion.",
        "ALTER SYSTEM SET authentication_timeout = '30s' and reload.",
        _SETTINGS,
        pgdsat="5.7",
    ),
    # --- TLS ------------------------------------------------------------------------------
    Control(
        "ssl_on",
        "the server accepts TLS (ssl = on)",
        "high",
        "server",
        "status",
        "Without TLS, passwords exchanges and data cross the network in clear.",
        "Install a certificate, ALTER SYSTEM SET ssl = on and reload.",
        _SETTINGS,
        cis="6.8",
        pgdsat="6.8",
    ),
    Control(
        "ssl_min_protocol_version",
        "ssl_min_protocol_version is TLSv1.2 or later",
        "medium",
        "server",
        "status",
        "TLS 1.0 and 1.1 are deprecated (RFC 8996) and have known weaknesses.",
        "ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.2' and reload.",
        _READ_ALL_SETTINGS,
        cis="6.8",
        pgdsat="6.8",
    ),
    Control(
        "session_encrypted",
        "this verify session is encrypted with TLS",
        "high",
        "server",
        "status",
        "The connection verify uses is a sample of how clients connect: it should be TLS.",
        "Connect with sslmode=verify-full and make pg_hba require hostssl.",
        "any role (pg_stat_ssl, own session)",
        cis="6.8",
        pgdsat="5.8",
    ),
    # --- privileges -----------------------------------------------------------------------
    Control(
        "superuser_count",
        "at most one superuser",
        "high",
        "server",
        "findings",
        "Every superuser bypasses all permission checks and audit configuration; applications "
        "and people should use narrower roles.",
        "ALTER ROLE <role> NOSUPERUSER for every listed role that is not the administrator.",
        cis="4.3",
        pgdsat="4.3",
    ),
    Control(
        "approle_createrole",
        "no non-superuser role has CREATEROLE",
        "high",
        "server",
        "findings",
        "CREATEROLE lets a role create and alter other roles (before PostgreSQL 16: grant "
        "itself almost any membership).",
        "ALTER ROLE <role> NOCREATEROLE.",
        cis="4.3",
        pgdsat="4.3",
    ),
    Control(
        "approle_createdb",
        "no non-superuser role a login role can act as has CREATEDB",
        "medium",
        "server",
        "findings",
        "An application role that can create databases can create unaudited ones and "
        "exhaust storage; a NOLOGIN role with CREATEDB gives that to every login role that "
        "is its member (SET ROLE).",
        "ALTER ROLE <role> NOCREATEDB (or REVOKE <role> FROM the login_members listed).",
        cis="4.3",
        pgdsat="4.3",
    ),
    Control(
        "approle_bypassrls",
        "no non-superuser role has BYPASSRLS",
        "high",
        "server",
        "findings",
        "BYPASSRLS ignores every row-level security policy.",
        "ALTER ROLE <role> NOBYPASSRLS.",
        cis="4.3",
        pgdsat="4.3",
    ),
    Control(
        "approle_replication",
        "no non-superuser role other than replication accounts has REPLICATION",
        "high",
        "server",
        "findings",
        "REPLICATION can stream the whole cluster's data; only dedicated NOLOGIN-by-default "
        "replication accounts should hold it.",
        "ALTER ROLE <role> NOREPLICATION (keep it only on the replication account).",
        cis="4.3",
        pgdsat="4.3",
    ),
    Control(
        "public_schema_create",
        "PUBLIC cannot create objects in any schema",
        "high",
        "kit",
        "findings",
        "A schema where everyone can create objects lets any role plant functions and "
        "operators that shadow others' (CVE-2018-1058).",
        "Run `alembic upgrade head` (REVOKE CREATE ON SCHEMA public FROM PUBLIC) or revoke it "
        "on each listed schema.",
        pgdsat="4.10",
    ),
    Control(
        "database_public_connect",
        "PUBLIC may not connect to this database",
        "medium",
        "kit",
        "status",
        "With CONNECT granted to PUBLIC every role in the cluster can open sessions here; "
        "access should be granted to the roles that need it.",
        "Run `alembic upgrade head` (REVOKE CONNECT ON DATABASE <db> FROM PUBLIC) and GRANT "
        "CONNECT to the application roles.",
    ),
    Control(
        "database_public_temp",
        "PUBLIC may not create temporary objects in this database",
        "medium",
        "kit",
        "status",
        "Temporary tables and functions let any role shadow objects through pg_temp in the "
        "search path and consume disk.",
        "Run `alembic upgrade head` (REVOKE TEMP ON DATABASE <db> FROM PUBLIC).",
    ),
    Control(
        "default_acl_public",
        "no default privileges grant to PUBLIC",
        "medium",
        "server",
        "findings",
        "ALTER DEFAULT PRIVILEGES ... TO PUBLIC gives every future object to every role.",
        "ALTER DEFAULT PRIVILEGES FOR ROLE <owner> [IN SCHEMA <s>] REVOKE ... FROM PUBLIC.",
        cis="4.6",
        pgdsat="4.6",
    ),
    Control(
        "security_definer_search_path",
        "SECURITY DEFINER functions pin a search_path only their owner can write to",
        "high",
        "server",
        "findings",
        "A SECURITY DEFINER function that resolves names through the caller's search_path runs "
        "the caller's objects with the owner's rights; so does a pinned path through a schema "
        "others can create objects in, or one that leaves pg_temp (searched first) unlisted.",
        "ALTER FUNCTION <f> SET search_path = pg_catalog, <schema>, pg_temp, naming only "
        "schemas where no one but the owner (and superusers) has CREATE.",
        cis="4.5",
        pgdsat="4.5",
    ),
    Control(
        "untrusted_languages",
        "no untrusted procedural language is installed",
        "high",
        "server",
        "findings",
        "Untrusted languages (plpython3u, plperlu) run code with the server's operating-system "
        "rights.",
        "DROP EXTENSION <language> (or restrict function creation to superusers you trust).",
    ),
    Control(
        "role_connection_limit",
        "non-superuser login roles have a connection limit",
        "low",
        "server",
        "findings",
        "A role with unlimited connections can exhaust max_connections and lock out everyone else.",
        "ALTER ROLE <role> CONNECTION LIMIT <n>.",
        cis="5.5",
        pgdsat="5.5",
    ),
    # --- extensions -----------------------------------------------------------------------
    Control(
        "pgcrypto_installed",
        "the pgcrypto extension is created in this database",
        "medium",
        "kit",
        "status",
        "The kit's server-side encrypted column types (pgp_sym_encrypt) need pgcrypto.",
        "Run `alembic upgrade head` (or CREATE EXTENSION pgcrypto).",
        cis="6.9",
        pgdsat="6.9",
    ),
    Control(
        "set_user_installed",
        "the set_user extension is created in this database",
        "low",
        "server",
        "status",
        "set_user lets administrators escalate with an audit trail instead of logging in as a "
        "superuser.",
        "Install the set_user package, add it to shared_preload_libraries and CREATE EXTENSION "
        "set_user.",
        cis="4.8",
        pgdsat="4.8",
    ),
    Control(
        "password_policy_installed",
        "the kit's password policy is recorded in this database",
        "medium",
        "kit",
        "status",
        "Password length, strength, reuse and expiry rules are enforced by the kit's password "
        "tools from hardening.password_policy; without it no policy applies.",
        f"Run `alembic upgrade head` (step {steps.named('password_policy').id}).",
        cis="5.6",
        pgdsat="5.6",
    ),
    # --- the kit's own roles --------------------------------------------------------------
    Control(
        "audit_reader_role",
        "the audit reader role exists, is NOLOGIN and reads all settings",
        "medium",
        "kit",
        "status",
        "Auditors need to read configuration without any data or superuser rights; a NOLOGIN "
        "group role granted to named people gives exactly that.",
        "Run `alembic upgrade head` (creates the role, member of pg_read_all_settings).",
        params=("audit_reader_role",),
        cis="4.9",
        pgdsat="4.9",
    ),
    Control(
        "group_roles_nologin",
        "the read-only and read-write group roles exist and are NOLOGIN",
        "medium",
        "kit",
        "findings",
        "Applications and people get privileges through group roles; a group role that can log "
        "in is a shared account.",
        "Run `alembic upgrade head` (creates both group roles NOLOGIN).",
        params=("readonly_role", "readwrite_role"),
        cis="4.9",
        pgdsat="4.9",
    ),
    Control(
        "group_roles_default_privileges",
        "default privileges give future tables to the group roles",
        "medium",
        "kit",
        "findings",
        "Without default privileges each new table needs its own GRANT, and roles end up with "
        "ALL or ownership to keep working.",
        "Run `alembic upgrade head` (ALTER DEFAULT PRIVILEGES IN SCHEMA <app_schema> GRANT "
        "SELECT / DML to the group roles).",
        params=("app_schema", "readonly_role", "readwrite_role"),
        cis="4.6",
        pgdsat="4.6",
    ),
)

# Active probes, run only with --probe (hardening.verify.probe).
PROBES: tuple[Control, ...] = (
    Control(
        "probe_ddl_audited",
        "probe: a canary DDL statement is audited",
        "high",
        "kit",
        "status",
        "Configuration can look right and still not log: this runs a CREATE TABLE in a scratch "
        "schema and looks for its pgaudit record.",
        "Make sure pgaudit is preloaded and `alembic upgrade head` has run; check pg_db_role_"
        "setting overrides for the connecting role.",
        "superuser (pgaudit.log_client) or a server log readable through SQL",
        "3.2",
        "3.2",
        probe=True,
    ),
    Control(
        "probe_role_audited",
        "probe: a canary role change is audited",
        "high",
        "kit",
        "status",
        "Runs CREATE ROLE / DROP ROLE of a scratch NOLOGIN role and looks for the ROLE record.",
        "Include the role class in pgaudit.log (`alembic upgrade head`).",
        "superuser (pgaudit.log_client, CREATEROLE) or a readable server log",
        "3.2",
        "3.2",
        probe=True,
    ),
    Control(
        "probe_write_audited",
        "probe: a canary write is audited",
        "high",
        "kit",
        "status",
        "Inserts a row into a scratch table and looks for the WRITE record.",
        "Include the write class in pgaudit.log (`alembic upgrade head`).",
        "superuser (pgaudit.log_client) or a server log readable through SQL",
        "3.2",
        "3.2",
        probe=True,
    ),
    Control(
        "probe_bind_parameter_hidden",
        "probe: a bind parameter does not reach the audit log",
        "high",
        "kit",
        "status",
        "Sends a unique marker as a bind parameter of an audited INSERT and checks that the "
        "captured audit output does not contain it.",
        "Set pgaudit.log_parameter = off and log_parameter_max_length = 0 "
        "(`alembic upgrade head`).",
        "superuser (pgaudit.log_client) or a server log readable through SQL",
        probe=True,
    ),
    Control(
        "probe_long_record_whole",
        "probe: the audit record of a statement over 16 KB arrives whole",
        "medium",
        "kit",
        "status",
        "Some log pipelines cut or drop records near 16 KB (syslog message limits, container "
        "log drivers); a cut record loses its end, a dropped one leaves no trace. This sends a "
        "COMMENT ON TABLE of 16.5 KB (DDL class) and looks for its whole record; the detail "
        "names a marker to look for further down the pipeline.",
        "Raise the limit where the record is cut (e.g. rsyslog $MaxMessageSize), or ship "
        "csvlog/jsonlog files with a shipper that keeps long lines (docs/audit.md).",
        "superuser (pgaudit.log_client) or a server log readable through SQL",
        probe=True,
    ),
)

_BY_ID = {c.id: c for c in CONTROLS + PROBES}


def get(control_id: str) -> Control:
    try:
        return _BY_ID[control_id]
    except KeyError:
        raise KeyError(f"no control {control_id!r}; `hardening verify --list` names them") from None


def ids() -> list[str]:
    return [c.id for c in CONTROLS]
