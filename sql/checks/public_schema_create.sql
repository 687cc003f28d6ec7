-- Schemas of this database where PUBLIC (every role) may create objects.
-- One row per schema.
SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner
FROM pg_namespace AS n
WHERE n.nspname NOT LIKE 'pg\_%'
  AND n.nspname <> 'information_schema'
  AND has_schema_privilege('public', n.oid, 'CREATE')
ORDER BY n.nspname;
