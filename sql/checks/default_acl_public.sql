-- Default privileges (ALTER DEFAULT PRIVILEGES) that grant to PUBLIC.
-- One row per grant.
SELECT pg_get_userbyid(d.defaclrole) AS for_role,
       coalesce(n.nspname, '(all schemas)') AS schema,
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
            WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas'
            ELSE d.defaclobjtype::text END AS object_type,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
FROM pg_default_acl AS d
LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a
WHERE a.grantee = 0
GROUP BY d.defaclrole, n.nspname, d.defaclobjtype
ORDER BY 1, 2, 3;
