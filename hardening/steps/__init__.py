"""The kit's steps, each declared once: ``STEPS`` in the order Alembic applies them.

From these declarations derive the revision files (``migrations/versions/<id>.py``, a few lines
each), ``hardening.migrate.READ_BY`` / ``IN_EFFECT``, the revision table of docs/migrations.md
(``scripts/generated.py`` writes it), the steps ``hardening settings`` names, and the fix texts
of ``hardening verify``. A step's body is ``hardening/steps/<body>.py``; the SQL it installs is
``sql/migrations/<id>/``, frozen once released (``sql/migrations/SHA256SUMS``). To add a step:
docs/migrations.md, *Adding a step*.

Importing this module imports no Alembic (the bodies do, when a revision runs)::

    from hardening import steps
    steps.named("password_policy").id   # 'h003_password_policy'
"""

from __future__ import annotations

from hardening.steps.step import BRANCH, Step, chain

__all__ = ["BRANCH", "PGCRYPTO_FUNCTIONS", "STEPS", "Step", "get", "named", "reading"]

# The pgcrypto functions the kit's PGP types call. They cost 3-9 us a call (measured); pgcrypto
# declares them at the default C-function cost (1), so the planner never decrypts in parallel.
PGCRYPTO_FUNCTIONS = (
    "pgp_sym_encrypt",
    "pgp_sym_encrypt_bytea",
    "pgp_sym_decrypt",
    "pgp_sym_decrypt_bytea",
)

_DEFAULT_ACL_TO = (
    "SELECT EXISTS (SELECT FROM pg_default_acl d, aclexplode(d.defaclacl) a "
    "WHERE d.defaclobjtype = 'r' AND a.privilege_type = '{}' "
    "AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = :value))"
)
_DEFAULTS_RECORDED = (
    "SELECT bool_and({}) FROM hardening.applied "
    "WHERE step = :step AND kind = 'default_privilege_granted'"
)
_PGAUDIT_SETTINGS = (
    "audit_log",
    "audit_log_catalog",
    "audit_log_parameter",
    "audit_log_relation",
    "audit_log_statement_once",
    "audit_log_level",
    "audit_log_client",
)
# :value is the setting's grants as JSON, [[schema, table, privilege], ...] (migrate writes it)
_AUDIT_TABLES_IN_EFFECT = """
WITH wanted (s, t, p) AS (
    SELECT w->>0, w->>1, w->>2 FROM jsonb_array_elements(CAST(:value AS jsonb)) AS w
), recorded (s, t, p) AS (
    SELECT target->>'schema', target->>'name', target->>'privilege' FROM hardening.applied
    WHERE step = :step AND kind = 'privilege_granted' AND target->>'type' = 'table'
      AND target->>'grantee' = hardening.database_setting('pgaudit.role')
)
SELECT NOT EXISTS (SELECT s, t, p FROM recorded EXCEPT SELECT s, t, p FROM wanted)
   AND coalesce((SELECT bool_and(hardening.holds('table', s, t, p,
                                                 hardening.database_setting('pgaudit.role')))
                 FROM wanted), true)"""

# 'off': the step granted nothing; 'on': every existing object its function covers holds it.
_GRANT_EXISTING_IN_EFFECT = """
SELECT CASE lower(:value)
    WHEN 'off' THEN NOT EXISTS (SELECT FROM hardening.applied
                                WHERE step = :step AND kind = 'privilege_granted')
    WHEN 'on' THEN (SELECT coalesce(bool_and(hardening.holds('table', o.schema_name,
                                                             o.object_name, o.privilege,
                                                             o.grantee)), true)
                    FROM hardening.default_privilege_objects('h004_least_privilege') o)
END"""

STEPS: tuple[Step, ...] = chain(
    Step(
        "h000_base",
        "pg-hardening: start of the hardening branch.",
        changes="nothing: the root of the `hardening` branch",
        needs="\u2013",  # an en dash: nothing
        branch_labels=(BRANCH,),
    ),
    Step(
        "h001_state",
        "pg-hardening: the hardening schema: state table (prior state for downgrade) and the "
        "functions the steps call.",
        changes="schema `hardening` (if missing), table `hardening.applied` (each change and "
        "the state before it), view `hardening.database_settings`, and the SQL functions the "
        "steps call (`sql/migrations/h001_state/`, one file per function)",
        needs="CREATE on the database; before it, alembic creates its version table "
        "`hardening_version` in the first schema of `search_path` (`public`), which needs CREATE "
        "there: the database owner has both, a role without it is stopped with one line naming "
        "the GRANT",
        body="state",
    ),
    Step(
        "h002_pgcrypto",
        "pg-hardening: pgcrypto in schema pgcrypto_schema, created if missing; downgrade drops "
        "it only if this step created it.",
        changes="`CREATE EXTENSION pgcrypto SCHEMA <pgcrypto_schema>` unless installed; `ALTER "
        "FUNCTION … COST <pgcrypto_function_cost>` on `pgp_sym_encrypt`, `pgp_sym_encrypt_bytea`, "
        "`pgp_sym_decrypt`, `pgp_sym_decrypt_bytea` (every arity), prior cost restored on "
        "downgrade; functions the migrating role may not alter are left alone, with a `server "
        "NOTICE:` line naming their owner and the `ALTER FUNCTION` to run as it (see *Why h002 "
        "changes pgcrypto's planner costs*)",
        needs="CREATE on the database and schema (pgcrypto is trusted)",
        reads=("pgcrypto_schema", "pgcrypto_function_cost"),
        in_effect={
            "pgcrypto_schema": "SELECT EXISTS (SELECT FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto' AND n.nspname = :value)",
            "pgcrypto_function_cost": "SELECT bool_and(p.procost = CAST(:value AS real)) "
            "FROM pg_extension e JOIN pg_depend d ON d.refobjid = e.oid "
            "AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' "
            "JOIN pg_proc p ON p.oid = d.objid WHERE e.extname = 'pgcrypto' "
            f"AND p.proname = ANY (ARRAY{list(PGCRYPTO_FUNCTIONS)})",
        },
        body="pgcrypto",
    ),
    Step(
        "h003_password_policy",
        "pg-hardening: password_encryption = scram-sha-256 for the database; password policy "
        "and reuse-history tables.",
        changes="`ALTER DATABASE … SET password_encryption = 'scram-sha-256'`; tables "
        "`hardening.password_policy` (one row) and `hardening.password_history`; NOLOGIN "
        "`password_admin_role` (adopted if it exists) with CONNECT on the database, USAGE on "
        "schema `hardening`, SELECT on `hardening.password_policy`, SELECT, INSERT, DELETE on "
        "`hardening.password_history`",
        needs="database owner; CREATEROLE unless `password_admin_role` exists",
        reads=(
            "password_min_length",
            "password_max_age_days",
            "password_history_depth",
            "password_min_strength",
            "password_admin_role",
        ),
        in_effect={
            **{
                f"password_{column}": f"SELECT {column} = CAST(:value AS integer) "
                "FROM hardening.password_policy"
                for column in ("min_length", "max_age_days", "history_depth", "min_strength")
            },
            "password_admin_role": "SELECT hardening.holds('table', 'hardening', "
            "'password_history', 'INSERT', :value)",
        },
        body="password_policy",
    ),
    Step(
        "h004_least_privilege",
        "pg-hardening: PUBLIC loses CREATE on schema public and TEMP/CONNECT on the database; "
        "NOLOGIN read-only and read-write group roles with default privileges.",
        changes="`REVOKE CREATE ON SCHEMA public FROM PUBLIC`, `REVOKE TEMPORARY, CONNECT ON "
        "DATABASE … FROM PUBLIC`; NOLOGIN roles `readonly_role` and `readwrite_role` with "
        "CONNECT, USAGE on `app_schema`, and default privileges on future tables (SELECT / "
        "SELECT, INSERT, UPDATE, DELETE) and sequences (USAGE, SELECT for read-write) created "
        "by `table_owner_role`",
        needs="database owner, CREATEROLE",
        reads=("app_schema", "readonly_role", "readwrite_role", "table_owner_role"),
        in_effect={
            "app_schema": _DEFAULTS_RECORDED.format("target->>'schema' = :value"),
            "table_owner_role": _DEFAULTS_RECORDED.format(
                "target->>'owner' = coalesce(nullif(:value, ''), current_user)"
            ),
            "readonly_role": _DEFAULT_ACL_TO.format("SELECT"),
            "readwrite_role": _DEFAULT_ACL_TO.format("INSERT"),
        },
        body="least_privilege",
    ),
    Step(
        "h005_pgaudit",
        "pg-hardening: pgaudit preflight (preloaded? may the role set its parameters?), the "
        "extension, session-audit settings for the database.",
        changes="preflight: pgaudit preloaded, database owner, may set each parameter below; "
        "then `CREATE EXTENSION pgaudit` unless it exists, and the database's `pgaudit.log`, "
        "`log_catalog`, `log_parameter`, `log_relation`, `log_statement_once`, `log_level`, "
        "`log_client`",
        needs="database owner with SET on those parameters (a superuser, or `GRANT SET ON "
        "PARAMETER`); a superuser to create pgaudit if it is missing (it is not a trusted "
        "extension)",
        reads=_PGAUDIT_SETTINGS,
        in_effect={
            name: f"SELECT hardening.database_setting('pgaudit.{name[len('audit_') :]}') = :value"
            for name in _PGAUDIT_SETTINGS
        },
        body="pgaudit",
    ),
    Step(
        "h006_audit_roles",
        "pg-hardening: NOLOGIN object-audit role as pgaudit.role with per-table audit grants; "
        "NOLOGIN audit-reader role.",
        changes="NOLOGIN `audit_role` set as `pgaudit.role`, object-audit grants from "
        "`audit_tables`; NOLOGIN `audit_reader_role` with `pg_read_all_settings`, CONNECT, USAGE "
        "on schema `hardening` and SELECT on `hardening.database_settings`, "
        "`hardening.password_policy`, `hardening.applied`",
        needs="database owner with SET on `pgaudit.role`, CREATEROLE (for roles it creates), "
        "ADMIN OPTION on `pg_read_all_settings` (PostgreSQL 16+; on 15 CREATEROLE is enough), "
        "ownership of (or the grant option on) each `audit_tables` table; a superuser has all "
        "of it",
        reads=("audit_role", "audit_reader_role", "audit_tables"),
        in_effect={
            "audit_role": "SELECT hardening.database_setting('pgaudit.role') = :value",
            "audit_reader_role": "SELECT hardening.holds('table', 'hardening', 'applied', "
            "'SELECT', :value)",
            "audit_tables": _AUDIT_TABLES_IN_EFFECT,
        },
        body="audit_roles",
    ),
    Step(
        "h007_log_hygiene",
        "pg-hardening: bind parameters never reach the server log "
        "(log_parameter_max_length[_on_error] = 0).",
        changes="`log_parameter_max_length = 0`, `log_parameter_max_length_on_error = 0` for "
        "the database: bind parameters (keys, plaintexts) never reach the server log",
        needs="database owner with SET on `log_parameter_max_length` (a superuser, or `GRANT "
        "SET ON PARAMETER`; the `_on_error` one any role may set)",
        body="log_hygiene",
    ),
    Step(
        "h008_server_profile",
        "pg-hardening: server profile (off unless server_profile=on): logging and TLS settings "
        "with ALTER SYSTEM + reload for a superuser on a self-managed server; downgrade restores "
        "the prior values.",
        changes="only with `server_profile=on`: `ALTER SYSTEM SET` `log_connections`, "
        "`log_disconnections`, `log_line_prefix`, `log_statement`, `log_lock_waits`, "
        "`log_min_error_statement`, `password_encryption`, `ssl_min_protocol_version`, then "
        "`pg_reload_conf()`",
        needs="superuser on a self-managed server",
        # Not compared after an upgrade (no in_effect): server_profile given at head is refused
        # by hardening.migrate.check_server_profile, and the server_* values count only with it.
        reads=(
            "server_profile",
            "server_log_line_prefix",
            "server_log_statement",
            "server_ssl_min_protocol_version",
        ),
        body="server_profile",
    ),
    Step(
        "h009_existing_objects",
        "pg-hardening: the group roles get on the tables, views and sequences already in "
        "app_schema what the default privileges give new ones (grant_existing).",
        changes="unless `grant_existing=off`: on each table, view and sequence that exists in "
        "`app_schema`, owned by `table_owner_role`, the privileges h004's default privileges "
        "give the ones created later (so adopting the kit into an application at head works "
        "as on a fresh database); alembic's version tables are left out. Functions "
        "`hardening.default_privilege_objects`, `hardening.grant_existing`",
        needs="ownership of those objects (or their privileges WITH GRANT OPTION): the role "
        "that ran h004, or the database owner",
        reads=("grant_existing",),
        in_effect={"grant_existing": _GRANT_EXISTING_IN_EFFECT},
        body="existing_objects",
    ),
    Step(
        "h010_auto_explain",
        "pg-hardening: auto_explain prints no bind values and no verbose output for the "
        "database (log_verbose = off; 16+: log_parameter_max_length = 0).",
        changes="`auto_explain.log_verbose = off` and, on PostgreSQL 16+, "
        "`auto_explain.log_parameter_max_length = 0` for the database (placeholders until "
        "auto_explain is loaded): plans that auto_explain logs show neither the pgcrypto "
        "passwords and plaintexts folded into their `Output:` lines nor the bind values",
        needs="database owner with SET on those parameters (a superuser, or `GRANT SET ON "
        "PARAMETER`)",
        body="auto_explain",
    ),
    Step(
        "h011_server_settings",
        "pg-hardening: the rest of the server profile (off unless server_profile=on): every "
        "CIS server setting configuration can fix, TLS on, with ALTER SYSTEM + reload; "
        "downgrade restores the prior values.",
        changes="only with `server_profile=on`: `ALTER SYSTEM SET` `logging_collector`, "
        "`log_file_mode`, `log_truncate_on_rotation`, `log_rotation_age`, `log_rotation_size`, "
        "`syslog_sequence_numbers`, `syslog_split_messages`, `log_min_messages`, "
        "`debug_print_*`, `debug_pretty_print`, `log_error_verbosity`, `log_hostname`, "
        "`log_timezone`, `log_line_prefix` (h008's, with every escape CIS and the STIG ask "
        "for added), `temp_file_limit`, `listen_addresses` (when given), "
        "`authentication_timeout`, `auth_delay.milliseconds`, "
        "`shared_preload_libraries` (the server's plus pgaudit and auth_delay, each loaded "
        "first), `log_replication_commands`, `unix_socket_permissions`, `ssl_ciphers`, "
        "`ssl_prefer_server_ciphers`, and `ssl = on` (with `ssl_cert_file` / `ssl_key_file` "
        "when given) once the server reads a current certificate and its matching key; then "
        "`pg_reload_conf()`, a TLS connection to confirm, and one line naming the settings "
        "that wait for a restart",
        needs="superuser on a self-managed server; the h008 profile set",
        # and server_profile, as h008 (each setting is read by one step)
        reads=(
            "server_ssl_cert_file",
            "server_ssl_key_file",
            "server_temp_file_limit",
            "server_listen_addresses",
        ),
        body="server_settings",
    ),
)

_BY_ID = {step.id: step for step in STEPS}


def get(step_id: str) -> Step:
    """The step whose revision id is ``step_id``; KeyError if there is none.

    Args:
        step_id: a revision id of the kit.

    Example::

        step = get("h002_pgcrypto")  # what migrations/versions/h002_pgcrypto.py does
    """
    try:
        return _BY_ID[step_id]
    except KeyError:
        raise KeyError(f"pg-hardening has no step {step_id!r}") from None


def named(name: str) -> Step:
    """The step called ``name`` (its id without the number), to name a step without writing
    its revision id.

    Args:
        name: the id's part after ``hNNN_``.

    Example::

        f"run `alembic upgrade head` (step {named('password_policy').id})"
    """
    found = [step for step in STEPS if step.name == name]
    if len(found) != 1:
        raise KeyError(f"pg-hardening has {len(found)} steps named {name!r}")
    return found[0]


def reading(setting: str) -> Step | None:
    """The step that reads kit setting ``setting``; None for settings no step reads.

    Args:
        setting: a setting of ``hardening.settings``.

    Example::

        reading("audit_tables").id  # 'h006_audit_roles'
    """
    return next((step for step in STEPS if setting in step.reads), None)
