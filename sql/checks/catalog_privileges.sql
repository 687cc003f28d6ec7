-- Privileges on the system catalogs (pg_catalog, information_schema) held by a role other
-- than PUBLIC, the predefined pg_* roles and the bootstrap superuser: what PostgreSQL itself
-- grants there goes to those. The relations and functions initdb created (OIDs below 16384,
-- FirstNormalObjectId: read through the OID indexes, so the cost does not follow the number
-- of tables) with an ACL are read (most have none).
-- One row per object and grantee, naming the privileges.
WITH catalog AS (
    SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema')
), grants AS (
    SELECT c.oid::regclass::text AS object, a.grantee, a.privilege_type
    FROM pg_class AS c
    CROSS JOIN LATERAL aclexplode(c.relacl) AS a
    WHERE c.oid < 16384 AND c.relacl IS NOT NULL
      AND c.relnamespace IN (SELECT oid FROM catalog)
    UNION ALL
    SELECT p.oid::regprocedure::text, a.grantee, a.privilege_type
    FROM pg_proc AS p
    CROSS JOIN LATERAL aclexplode(p.proacl) AS a
    WHERE p.oid < 16384 AND p.proacl IS NOT NULL
      AND p.pronamespace IN (SELECT oid FROM catalog)
)
SELECT g.object, pg_get_userbyid(g.grantee) AS grantee,
       string_agg(DISTINCT g.privilege_type, ', ') AS privileges
FROM grants AS g
WHERE g.grantee NOT IN (0, 10)  -- PUBLIC, the bootstrap superuser
  AND pg_get_userbyid(g.grantee) NOT LIKE 'pg\_%'
GROUP BY g.object, g.grantee
ORDER BY 1, 2;
