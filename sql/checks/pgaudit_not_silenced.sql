-- CIS 3.2: overrides of pgaudit.log in pg_db_role_setting (ALTER ROLE/DATABASE ... SET) that
-- apply to this database and drop ddl, role or write.
-- One row per override that narrows auditing.
WITH overrides AS (
    SELECT coalesce(d.datname, '(every database)') AS database,
           coalesce(r.rolname, '(every role)') AS role,
           substr(s.setting, length('pgaudit.log=') + 1) AS value
    FROM pg_db_role_setting AS rs
    LEFT JOIN pg_database AS d ON d.oid = rs.setdatabase
    LEFT JOIN pg_roles AS r ON r.oid = rs.setrole
    CROSS JOIN LATERAL unnest(rs.setconfig) AS s(setting)
    WHERE (rs.setdatabase = 0 OR d.datname = current_database())
      AND lower(s.setting) LIKE 'pgaudit.log=%'
)
SELECT o.database, o.role, format('pgaudit.log = %L', o.value) AS setting,
       string_agg(req.class, ', ') AS drops
FROM overrides AS o
CROSS JOIN (VALUES ('ddl'), ('role'), ('write')) AS req(class)
WHERE NOT EXISTS (
          SELECT 1
          FROM unnest(string_to_array(lower(o.value), ',')) AS c
          WHERE btrim(c) IN (req.class, 'all')
      )
   OR EXISTS (
          SELECT 1
          FROM unnest(string_to_array(lower(o.value), ',')) AS c
          WHERE btrim(c) = '-' || req.class
      )
GROUP BY o.database, o.role, o.value
ORDER BY o.database, o.role;
