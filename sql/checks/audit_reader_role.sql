-- The kit's audit reader role (setting audit_reader_role) exists, cannot log in, and is a
-- member of pg_read_all_settings. Parameter: audit_reader_role.
-- One row: ok (boolean), observed (text).
WITH wanted AS (
    SELECT %(audit_reader_role)s::name AS name
)
SELECT r.oid IS NOT NULL AND NOT r.rolcanlogin
       AND pg_has_role(r.oid, 'pg_read_all_settings', 'USAGE') IS TRUE AS ok,
       CASE WHEN r.oid IS NULL THEN format('role %%s does not exist', wanted.name)
            ELSE format('role %%s: %%s, %%s pg_read_all_settings', r.rolname,
                        CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
                        CASE WHEN pg_has_role(r.oid, 'pg_read_all_settings', 'USAGE')
                             THEN 'member of' ELSE 'not a member of' END)
       END AS observed
FROM wanted
LEFT JOIN pg_roles AS r ON r.rolname = wanted.name;
