"""Least privilege: superusers and administrative attributes, what PUBLIC may do, functions
that run with their owner's rights, row security, and the catalog's own grants."""

from __future__ import annotations

from hardening.verify.controls._build import ON, setting
from hardening.verify.model import Control, Rule

CONTROLS: tuple[Control, ...] = (
    Control(
        "superuser_count",
        "at most one superuser",
        "high",
        "server",
        "findings",
        rationale="Every superuser bypasses all permission checks and audit configuration; "
        "applications and people should use narrower roles.",
        fix="ALTER ROLE <role> NOSUPERUSER for every listed role that is not the administrator "
        "(a predefined role such as pg_monitor often suffices).",
        cis=("4.3", "4.9"),
        pgdsat=("4.3",),
        stig=("V-261862", "V-261878", "V-261888", "V-261898", "V-261924"),
    ),
    Control(
        "superuser_login",
        "no one logs in as a superuser, directly or through a granted role",
        "medium",
        "server",
        "findings",
        rationale="A login straight into a superuser (or into a role granted one) leaves no "
        "trace of who used it; administrators should log in as themselves and escalate with "
        "set_user, which audits the switch.",
        fix="ALTER ROLE <superuser> NOLOGIN once every administrator escalates with set_user; "
        "REVOKE the superuser role from the login roles listed.",
        cis=("4.8",),
    ),
    Control(
        "approle_createrole",
        "no non-superuser role has CREATEROLE",
        "high",
        "server",
        "findings",
        rationale="CREATEROLE lets a role create and alter other roles (before PostgreSQL 16: "
        "grant itself almost any membership).",
        fix="ALTER ROLE <role> NOCREATEROLE.",
        cis=("4.3",),
        pgdsat=("4.3",),
        stig=("V-261898",),
    ),
    Control(
        "approle_createdb",
        "no non-superuser role a login role can act as has CREATEDB",
        "medium",
        "server",
        "findings",
        rationale="An application role that can create databases can create unaudited ones and "
        "exhaust storage; a NOLOGIN role with CREATEDB gives that to every login role that is "
        "its member (SET ROLE).",
        fix="ALTER ROLE <role> NOCREATEDB (or REVOKE <role> FROM the login_members listed).",
        cis=("4.3",),
        pgdsat=("4.3",),
        stig=("V-261898",),
    ),
    Control(
        "approle_bypassrls",
        "no non-superuser role has BYPASSRLS",
        "high",
        "server",
        "findings",
        rationale="BYPASSRLS ignores every row-level security policy.",
        fix="ALTER ROLE <role> NOBYPASSRLS.",
        cis=("4.3", "4.7"),
        pgdsat=("4.3",),
        stig=("V-261898",),
    ),
    Control(
        "approle_replication",
        "no non-superuser role other than replication accounts has REPLICATION",
        "high",
        "server",
        "findings",
        rationale="REPLICATION can stream the whole cluster's data; only dedicated "
        "NOLOGIN-by-default replication accounts should hold it.",
        fix="ALTER ROLE <role> NOREPLICATION (keep it only on the replication account).",
        cis=("4.3", "7.1"),
        pgdsat=("4.3",),
    ),
    Control(
        "server_file_roles",
        "no login role can read or write the server's files or run its programs",
        "high",
        "server",
        "findings",
        rationale="pg_read_server_files, pg_write_server_files and pg_execute_server_program "
        "give COPY access to any file the server can read and to shell commands: an operating "
        "system account in all but name.",
        fix="REVOKE pg_execute_server_program, pg_write_server_files, pg_read_server_files FROM "
        "<role> for each role listed.",
        cis=("4.3",),
        stig=("V-261888",),
    ),
    Control(
        "public_schema_create",
        "PUBLIC cannot create objects in any schema",
        "high",
        "kit",
        "findings",
        rationale="A schema where everyone can create objects lets any role plant functions and "
        "operators that shadow others' (CVE-2018-1058).",
        fix="Run `hardening upgrade` (REVOKE CREATE ON SCHEMA public FROM PUBLIC) or revoke "
        "it on each listed schema.",
        pgdsat=("4.10",),
        stig=("V-261885", "V-261923", "V-261924"),
    ),
    Control(
        "database_public_connect",
        "PUBLIC may not connect to this database",
        "medium",
        "kit",
        "status",
        rationale="With CONNECT granted to PUBLIC every role in the cluster can open sessions "
        "here; access should be granted to the roles that need it.",
        fix="Run `hardening upgrade` (REVOKE CONNECT ON DATABASE <db> FROM PUBLIC) and GRANT "
        "CONNECT to the application roles.",
    ),
    Control(
        "database_public_temp",
        "PUBLIC may not create temporary objects in this database",
        "medium",
        "kit",
        "status",
        rationale="Temporary tables and functions let any role shadow objects through pg_temp "
        "in the search path and consume disk.",
        fix="Run `hardening upgrade` (REVOKE TEMP ON DATABASE <db> FROM PUBLIC).",
    ),
    Control(
        "default_acl_public",
        "no default privileges grant to PUBLIC",
        "medium",
        "server",
        "findings",
        rationale="ALTER DEFAULT PRIVILEGES ... TO PUBLIC gives every future object to every role.",
        fix="ALTER DEFAULT PRIVILEGES FOR ROLE <owner> [IN SCHEMA <s>] REVOKE ... FROM PUBLIC.",
        cis=("4.6",),
        pgdsat=("4.6",),
    ),
    Control(
        "table_public_dml",
        "PUBLIC may not change the rows of any table",
        "high",
        "server",
        "findings",
        rationale="INSERT, UPDATE, DELETE or TRUNCATE granted to PUBLIC lets every role in the "
        "cluster that can reach the table change or destroy its data.",
        fix="REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON <table> FROM PUBLIC and grant them to "
        "the roles that need them.",
        cis=("4.6",),
        stig=("V-261885",),
    ),
    Control(
        "security_definer_search_path",
        "SECURITY DEFINER functions pin a search_path only their owner can write to",
        "high",
        "server",
        "findings",
        rationale="A SECURITY DEFINER function that resolves names through the caller's "
        "search_path runs the caller's objects with the owner's rights; so does a pinned path "
        "through a schema others can create objects in, or one that leaves pg_temp (searched "
        "first) unlisted.",
        fix="ALTER FUNCTION <f> SET search_path = pg_catalog, <schema>, pg_temp, naming only "
        "schemas where no one but the owner (and superusers) has CREATE.",
        cis=("4.5",),
        pgdsat=("4.5",),
        stig=("V-261916",),
    ),
    Control(
        "definer_public_execute",
        "no SECURITY DEFINER function is executable by PUBLIC",
        "medium",
        "server",
        "findings",
        rationale="A function that runs with its owner's rights should be callable only by the "
        "roles that need that elevation; PUBLIC's default EXECUTE gives it to everyone.",
        fix="REVOKE EXECUTE ON FUNCTION <f> FROM PUBLIC and GRANT EXECUTE to the roles that "
        "need it (or ALTER FUNCTION <f> SECURITY INVOKER).",
        cis=("4.5",),
        stig=("V-261916",),
    ),
    Control(
        "rls_policies_disabled",
        "no table has row security policies that are switched off",
        "medium",
        "server",
        "findings",
        rationale="Policies on a table without ENABLE ROW LEVEL SECURITY do nothing: every row "
        "is visible to whoever may read the table, while the policies suggest otherwise.",
        fix="ALTER TABLE <table> ENABLE ROW LEVEL SECURITY (and FORCE it for the owner where "
        "the owner must be restricted too), or drop the unused policies.",
        cis=("4.7",),
    ),
    Control(
        "catalog_privileges",
        "the system catalogs grant nothing beyond PostgreSQL's own defaults",
        "medium",
        "server",
        "findings",
        rationale="Security data lives in pg_catalog and information_schema; a grant there to "
        "an ordinary role (SELECT on pg_authid, EXECUTE on an administrative function) breaks "
        "the boundary between security and application functions.",
        fix="REVOKE the listed privilege from the listed role (GRANT a predefined role such as "
        "pg_monitor where monitoring needs it).",
        stig=("V-261902",),
    ),
    Control(
        "untrusted_languages",
        "no untrusted procedural language is installed",
        "high",
        "server",
        "findings",
        rationale="Untrusted languages (plpython3u, plperlu) run code with the server's "
        "operating-system rights.",
        fix="DROP EXTENSION <language> (or restrict function creation to superusers you trust).",
        stig=("V-261915",),
    ),
    Control(
        "role_connection_limit",
        "non-superuser login roles have a connection limit",
        "low",
        "server",
        "findings",
        rationale="A role with unlimited connections can exhaust max_connections and lock out "
        "everyone else.",
        fix="ALTER ROLE <role> CONNECTION LIMIT <n>.",
        cis=("5.5",),
        pgdsat=("5.5",),
        stig=("V-261857",),
    ),
    setting(
        "safeguards_not_disabled",
        "no role or database turns triggers or event triggers off",
        Rule("session_replication_role", r"^origin$", "origin"),
        Rule("event_triggers", ON, "on"),
        rationale="session_replication_role = replica skips ordinary triggers (audit and "
        "integrity triggers included) and event_triggers = off (PostgreSQL 17) skips event "
        "triggers; set per role or database they quietly disable safeguards for every session "
        "there.",
        fix="ALTER ROLE <role> [IN DATABASE <db>] RESET session_replication_role (or "
        "event_triggers) for each override listed.",
        cis=("6.6",),
    ),
)
