-- Default privileges in the application schema (setting app_schema) that give future
-- tables to the group roles: SELECT to readonly_role; SELECT, INSERT, UPDATE, DELETE to
-- readwrite_role. Parameters: app_schema, readonly_role, readwrite_role.
-- One row per privilege no default ACL grants.
WITH wanted(role, privilege) AS (
    VALUES (%(readonly_role)s::name, 'SELECT'),
           (%(readwrite_role)s::name, 'SELECT'),
           (%(readwrite_role)s::name, 'INSERT'),
           (%(readwrite_role)s::name, 'UPDATE'),
           (%(readwrite_role)s::name, 'DELETE')
), granted AS (
    SELECT pg_get_userbyid(a.grantee)::name AS role, a.privilege_type AS privilege
    FROM pg_default_acl AS d
    JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
    CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a
    WHERE n.nspname = %(app_schema)s AND d.defaclobjtype = 'r'
)
SELECT w.role, w.privilege, %(app_schema)s AS schema
FROM wanted AS w
WHERE NOT EXISTS (
    SELECT 1 FROM granted AS g WHERE g.role = w.role AND g.privilege = w.privilege
)
ORDER BY 1, 2;
