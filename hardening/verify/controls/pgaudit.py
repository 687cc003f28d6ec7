"""Audit: pgaudit loaded, created and configured so that what an auditor asks for is recorded,
and nothing (role settings, log levels, bind parameters) quietly undoes it."""

from __future__ import annotations

from hardening.verify.controls._build import OFF, ON, READ_ALL_SETTINGS, SETTINGS, setting
from hardening.verify.model import Control, Rule

# STIG checks whose text is "pgaudit is loaded and pgaudit.log holds role, read, write, ddl".
STIG_ROLE_READ_WRITE_DDL = (
    "V-261938",
    "V-261946",
    "V-261948",
    "V-261949",
    "V-261950",
    "V-261953",
    "V-261954",
    "V-261955",
    "V-261958",
    "V-261962",
)

_OVERRIDES = "ALTER ROLE <role> [IN DATABASE <db>] RESET it for each override listed."

CONTROLS: tuple[Control, ...] = (
    setting(
        "pgaudit_preloaded",
        "pgaudit is in shared_preload_libraries",
        Rule("shared_preload_libraries", r'(^|,)\s*"?pgaudit"?\s*(,|$)', "a list with pgaudit"),
        severity="critical",
        privilege=READ_ALL_SETTINGS,
        rationale="pgaudit hooks the executor only when the server loads it at start; without "
        "it no session or object audit record is written.",
        fix="Add pgaudit to shared_preload_libraries and restart (RDS: parameter group; Cloud "
        "SQL: flag cloudsql.enable_pgaudit=on; Azure: azure.extensions and "
        "shared_preload_libraries).",
        cis=("3.2",),
        pgdsat=("3.2",),
        stig=(
            "V-261860",
            "V-261863",
            "V-261865",
            "V-261944",
            "V-261964",
            *STIG_ROLE_READ_WRITE_DDL,
        ),
    ),
    Control(
        "pgaudit_installed",
        "the pgaudit extension is created in this database",
        "high",
        "kit",
        "status",
        rationale="CREATE EXTENSION pgaudit installs the event triggers that give DDL records "
        "their object names; the kit's audit settings presume it.",
        fix="Run `hardening upgrade` (or CREATE EXTENSION pgaudit as a superuser).",
        cis=("3.2",),
        pgdsat=("3.2",),
    ),
    Control(
        "pgaudit_log_classes",
        "pgaudit.log includes the ddl, role and write classes",
        "high",
        "kit",
        "status",
        rationale="Schema changes, role and privilege changes and data modification are the "
        "events an auditor asks for; pgaudit.log decides which classes are recorded.",
        fix="Run `hardening upgrade` (sets pgaudit.log = 'ddl, role, write' on the "
        "database) or ALTER DATABASE <db> SET pgaudit.log = 'ddl, role, write'.",
        cis=("3.2",),
        pgdsat=("3.2",),
        stig=(
            "V-261940",
            "V-261941",
            "V-261942",
            "V-261944",
            "V-261952",
            *STIG_ROLE_READ_WRITE_DDL,
        ),
    ),
    Control(
        "pgaudit_not_silenced",
        "no database- or role-level setting narrows pgaudit.log or hides its lines",
        "high",
        "kit",
        "findings",
        rationale="ALTER ROLE ... SET pgaudit.log = 'none' (or a database-level override) "
        "silently exempts a role or database from auditing, and so does a log_min_messages "
        "above pgaudit.log_level (the server discards pgaudit's lines); pg_db_role_setting "
        "shows every such override.",
        fix="ALTER ROLE <role> [IN DATABASE <db>] RESET pgaudit.log (or log_min_messages), or "
        "set pgaudit.log to a value that includes ddl, role and write.",
        cis=("3.2",),
        pgdsat=("3.2",),
    ),
    setting(
        "pgaudit_log_parameter_off",
        "pgaudit.log_parameter is off",
        Rule("pgaudit.log_parameter", OFF, "off"),
        severity="high",
        scope="kit",
        rationale="With log_parameter on, bind parameters (passwords, encryption keys, "
        "personal data) are copied into every audit record.",
        fix="Run `hardening upgrade` or ALTER DATABASE <db> SET pgaudit.log_parameter = "
        f"off; {_OVERRIDES}",
        privilege="any role",
    ),
    Control(
        "pgaudit_role_nologin",
        "pgaudit.role names an existing NOLOGIN role",
        "medium",
        "kit",
        "status",
        rationale="Object-level audit works through the grants of pgaudit.role; a role nobody "
        "can log in as cannot be used to read data or to tamper with what is audited.",
        fix="Run `hardening upgrade` (creates the NOLOGIN audit role and sets pgaudit.role; "
        "on RDS the role must be rds_pgaudit); RESET pgaudit.role for each role or database "
        "listed as overriding it.",
        params=("audit_role",),
    ),
    setting(
        "pgaudit_log_relation",
        "pgaudit.log_relation is on",
        Rule("pgaudit.log_relation", ON, "on"),
        severity="low",
        scope="kit",
        rationale="One audit record per relation a statement touches names every table read "
        "or written, not only the first one.",
        fix=f"Run `hardening upgrade` or ALTER DATABASE <db> SET pgaudit.log_relation = on; "
        f"{_OVERRIDES}",
        privilege="any role",
    ),
    setting(
        "pgaudit_log_catalog_off",
        "pgaudit.log_catalog is off",
        Rule("pgaudit.log_catalog", OFF, "off"),
        severity="low",
        scope="kit",
        rationale="Statements that only touch pg_catalog (psql's \\d, driver introspection) "
        "flood the audit log and bury the records that matter.",
        fix=f"Run `hardening upgrade` or ALTER DATABASE <db> SET pgaudit.log_catalog = off; "
        f"{_OVERRIDES}",
        privilege="any role",
    ),
    setting(
        "pgaudit_log_read",
        "pgaudit.log also includes the read class",
        Rule(
            "pgaudit.log",
            r"^(?!.*(^|,)\s*-read\s*(,|$)).*(^|,)\s*(read|all)\s*(,|$)",
            "a list with read (or all)",
        ),
        severity="low",
        rationale="The STIG asks for reads of every object to be recorded (role, read, write and "
        "ddl); the kit's default leaves read out because of its volume.",
        fix="ALTER DATABASE <db> SET pgaudit.log = 'ddl, role, read, write' (a database the kit "
        "has not reached yet: `hardening upgrade -x audit_log='ddl, role, read, write'`); "
        f"{_OVERRIDES}",
        privilege=SETTINGS,
        stig=STIG_ROLE_READ_WRITE_DDL,
    ),
    Control(
        "privilege_reads_audited",
        "reads of the catalog (roles, privileges) are recorded",
        "low",
        "server",
        "status",
        rationale="Who listed roles and privileges (\\du, \\dp) is the reconnaissance an "
        "investigation looks for; it reaches the log through log_statement = 'all', or through "
        "pgaudit with the read class and pgaudit.log_catalog on.",
        fix="ALTER SYSTEM SET log_statement = 'all' and reload (keep log_parameter_max_length = "
        "0), or set pgaudit.log to include read and pgaudit.log_catalog = on.",
        privilege=SETTINGS,
        stig=("V-261863",),
    ),
)
