-- Tables (and views, foreign and partitioned tables) on which PUBLIC holds INSERT,
-- UPDATE, DELETE or TRUNCATE, outside the system schemas. A table without an ACL has only its
-- owner's default privileges, so only tables with one are read: the cost follows the grants,
-- not the number of tables.
-- One row per table, naming PUBLIC's privileges.
SELECT c.oid::regclass::text AS "table", pg_get_userbyid(c.relowner) AS owner,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS public_privileges
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) AS a
WHERE c.relacl IS NOT NULL
  AND c.relkind IN ('r', 'v', 'f', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND a.grantee = 0
  AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
GROUP BY c.oid, c.relowner
ORDER BY 1;
