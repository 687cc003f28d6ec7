-- The kit's group roles (settings readonly_role, readwrite_role) that are missing or can
-- log in. Parameters: readonly_role, readwrite_role.
-- One row per problem.
SELECT wanted.name AS role,
       CASE WHEN r.oid IS NULL THEN 'does not exist' ELSE 'can log in' END AS problem
FROM (VALUES (%(readonly_role)s::name), (%(readwrite_role)s::name)) AS wanted(name)
LEFT JOIN pg_roles AS r ON r.rolname = wanted.name
WHERE r.oid IS NULL OR r.rolcanlogin
ORDER BY 1;
