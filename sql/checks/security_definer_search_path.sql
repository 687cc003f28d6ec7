-- CIS 4.3: SECURITY DEFINER functions outside the system schemas with no pinned search_path.
-- One row per function.
SELECT p.oid::regprocedure::text AS function, pg_get_userbyid(p.proowner) AS owner
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.prosecdef
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
      SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%'
  )
ORDER BY 1;
