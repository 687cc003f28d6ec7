-- SECURITY DEFINER functions outside the system schemas that PUBLIC may execute
-- (a function without an ACL has PUBLIC's default EXECUTE). Functions an extension installs
-- are left out: the extension's scripts decide their grants.
-- One row per function.
SELECT p.oid::regprocedure::text AS function, pg_get_userbyid(p.proowner) AS owner
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.prosecdef
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND EXISTS (
      SELECT 1
      FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'
  )
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend AS dep
      WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e'
  )
ORDER BY 1;
