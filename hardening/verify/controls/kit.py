"""What the kit's migrations create besides audit settings: pgcrypto for the encrypted column
types, the password policy, the audit reader and the group roles (and set_user, which the
kit recommends but a package provides)."""

from __future__ import annotations

from hardening import steps
from hardening.verify.model import Control

CONTROLS: tuple[Control, ...] = (
    Control(
        "pgcrypto_installed",
        "the pgcrypto extension is created in this database",
        "medium",
        "kit",
        "status",
        rationale="The kit's server-side encrypted column types (pgp_sym_encrypt) need pgcrypto.",
        fix="Run `hardening upgrade` (or CREATE EXTENSION pgcrypto).",
        cis=("6.11",),
        pgdsat=("6.9",),
        stig=("V-261901", "V-261930", "V-261931"),
    ),
    Control(
        "set_user_installed",
        "the set_user extension is created in this database",
        "low",
        "server",
        "status",
        rationale="set_user lets administrators escalate with an audit trail instead of logging "
        "in as a superuser.",
        fix="Install the set_user package, add it to shared_preload_libraries and CREATE "
        "EXTENSION set_user.",
        cis=("4.8",),
        pgdsat=("4.8",),
    ),
    Control(
        "password_policy_installed",
        "the kit's password policy is recorded in this database",
        "medium",
        "kit",
        "status",
        rationale="Password length, strength, reuse and expiry rules are enforced by the kit's "
        "password tools from hardening.password_policy; without it no policy applies.",
        fix=f"Run `hardening upgrade` (step {steps.named('password_policy').id}).",
        cis=("5.6",),
        pgdsat=("5.6",),
    ),
    Control(
        "audit_reader_role",
        "the audit reader role exists, is NOLOGIN and reads all settings",
        "medium",
        "kit",
        "status",
        rationale="Auditors need to read configuration without any data or superuser rights; a "
        "NOLOGIN group role granted to named people gives exactly that.",
        fix="Run `hardening upgrade` (creates the role, member of pg_read_all_settings).",
        params=("audit_reader_role",),
        cis=("4.9",),
        pgdsat=("4.9",),
    ),
    Control(
        "group_roles_nologin",
        "the read-only and read-write group roles exist and are NOLOGIN",
        "medium",
        "kit",
        "findings",
        rationale="Applications and people get privileges through group roles; a group role "
        "that can log in is a shared account.",
        fix="Run `hardening upgrade` (creates both group roles NOLOGIN).",
        params=("readonly_role", "readwrite_role"),
        cis=("4.9",),
        pgdsat=("4.9",),
    ),
    Control(
        "group_roles_default_privileges",
        "default privileges give future tables to the group roles",
        "medium",
        "kit",
        "findings",
        rationale="Without default privileges each new table needs its own GRANT, and roles end "
        "up with ALL or ownership to keep working.",
        fix="Run `hardening upgrade` (ALTER DEFAULT PRIVILEGES IN SCHEMA <app_schema> GRANT "
        "SELECT / DML to the group roles).",
        params=("app_schema", "readonly_role", "readwrite_role"),
        cis=("4.6",),
        pgdsat=("4.6",),
    ),
)
