"""A catalog snapshot of everything the hardening steps may touch, for before/after diffs.

Cluster-wide: extensions' roles, role attributes, memberships (with their ADMIN, and from
PostgreSQL 16 INHERIT and SET, options), role settings, parameter ACLs,
ALTER SYSTEM settings. Per database: extensions, schemas, relations, functions (owner,
SECURITY DEFINER, ACL), database settings, and the effective ACLs of the database, schemas,
relations and default privileges. ACLs are compared as sets of (grantor, grantee, privilege,
grantable) with NULL read as the built-in default (a sequence's is not a table's), because
PostgreSQL cannot store a NULL ACL again once it was made explicit. Alembic's own
``hardening_version`` table is left out.
"""

from __future__ import annotations

from typing import Any

import psycopg

Snapshot = dict[str, list[tuple[Any, ...]]]

QUERIES: dict[str, str] = {
    "extensions": """
        SELECT e.extname, e.extversion, n.nspname FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1""",
    "roles": """
        SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
               rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text
        FROM pg_roles ORDER BY 1""",
    # inherit_option and set_option exist from PostgreSQL 16; read through to_jsonb, the
    # same query gives NULL for them on 15.
    "memberships": """
        SELECT r.rolname, m.rolname, m2.admin_option,
               (to_jsonb(m2) ->> 'inherit_option')::boolean,
               (to_jsonb(m2) ->> 'set_option')::boolean, g.rolname
        FROM pg_auth_members m2 JOIN pg_roles r ON r.oid = m2.roleid
        JOIN pg_roles m ON m.oid = m2.member LEFT JOIN pg_roles g ON g.oid = m2.grantor
        ORDER BY 1, 2, 6""",
    "settings": """
        SELECT coalesce(d.datname, ''), coalesce(r.rolname, ''), s.setconfig
        FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
        LEFT JOIN pg_roles r ON r.oid = s.setrole
        WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
        ORDER BY 1, 2""",
    "system_settings": """
        SELECT name, setting FROM pg_file_settings
        WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY 1, 2""",
    "schemas": """
        SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace
        WHERE nspname !~ '^pg_(toast|temp)' ORDER BY 1""",
    "relations": """
        SELECT n.nspname, c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND c.relname NOT IN ('hardening_version', 'hardening_version_pkc')
        ORDER BY 1, 2""",
    "database_acl": """
        SELECT pg_get_userbyid(a.grantor),
               coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC'), a.privilege_type,
               a.is_grantable
        FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
        WHERE d.datname = current_database() ORDER BY 1, 2, 3""",
    "schema_acls": """
        SELECT n.nspname, pg_get_userbyid(a.grantor),
               coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC'), a.privilege_type,
               a.is_grantable
        FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
        WHERE n.nspname !~ '^pg_(toast|temp)' ORDER BY 1, 2, 3, 4""",
    "relation_acls": """
        SELECT n.nspname, c.relname, pg_get_userbyid(a.grantor),
               coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC'), a.privilege_type,
               a.is_grantable
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
             aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's'::"char"
                                                     ELSE 'r' END, c.relowner))) a
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND c.relname NOT IN ('hardening_version', 'hardening_version_pkc')
        ORDER BY 1, 2, 3, 4, 5""",
    "default_acls": """
        SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype,
               pg_get_userbyid(a.grantor),
               coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC'), a.privilege_type,
               a.is_grantable
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,
             aclexplode(d.defaclacl) a
        ORDER BY 1, 2, 3, 4, 5, 6""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_userbyid(p.proowner), p.prosecdef, p.proacl::text, p.procost
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3""",
    "parameter_acls": """
        SELECT parname, paracl::text FROM pg_parameter_acl ORDER BY 1""",
}


def snapshot(dsn: str) -> Snapshot:
    """Every query's rows, as a dict ready for ``==`` (pytest shows the diff)."""
    with psycopg.connect(dsn) as conn:
        return {
            name: [tuple(row) for row in conn.execute(query)] for name, query in QUERIES.items()
        }


def diff(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> dict[str, Any]:
    """Only what changed: {part: {"gone": [...], "new": [...]}}; empty when identical."""
    changed: dict[str, Any] = {}
    for name in QUERIES:
        gone = [row for row in before[name] if row not in after[name]]
        new = [row for row in after[name] if row not in before[name]]
        if gone or new or before[name] != after[name]:
            changed[name] = {"gone": gone, "new": new}
    return changed
