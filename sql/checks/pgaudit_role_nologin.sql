-- pgaudit.role (object audit) names a role that exists and cannot log in.
-- Parameter: audit_role, the role the kit creates (setting audit_role).
-- One row: ok (boolean), observed (text).
WITH setting AS (
    SELECT nullif(current_setting('pgaudit.role', true), '') AS value
)
SELECT r.rolname IS NOT NULL AND NOT r.rolcanlogin AS ok,
       CASE WHEN setting.value IS NULL
                THEN format('pgaudit.role is not set (the kit uses %%s)', %(audit_role)s::text)
            WHEN r.rolname IS NULL
                THEN format('pgaudit.role = %%s, but no such role exists', setting.value)
            ELSE format('pgaudit.role = %%s (%%s)', setting.value,
                        CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END)
       END AS observed
FROM setting
LEFT JOIN pg_roles AS r ON r.rolname = setting.value;
