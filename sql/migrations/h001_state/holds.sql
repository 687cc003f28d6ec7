CREATE FUNCTION hardening.holds(p_type text, p_schema text, p_name text, p_privilege text, p_grantee text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    -- Whether p_grantee ('PUBLIC' or a role) holds p_privilege directly in the object's ACL
    -- (a NULL ACL means the built-in default, e.g. TEMP and CONNECT for PUBLIC on a database).
    WITH acl AS (
        SELECT coalesce(datacl, acldefault('d', datdba)) AS acl FROM pg_database
        WHERE p_type = 'database' AND datname = current_database()
        UNION ALL
        SELECT coalesce(nspacl, acldefault('n', nspowner)) FROM pg_namespace
        WHERE p_type = 'schema' AND nspname = p_schema
        UNION ALL
        SELECT coalesce(c.relacl, acldefault('r', c.relowner)) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p_type = 'table' AND n.nspname = p_schema AND c.relname = p_name
    )
    SELECT EXISTS (
        SELECT FROM acl CROSS JOIN LATERAL aclexplode(acl.acl) a
        WHERE a.privilege_type = p_privilege
          AND a.grantee = CASE WHEN p_grantee = 'PUBLIC' THEN 0::oid
                               ELSE (SELECT oid FROM pg_roles WHERE rolname = p_grantee) END);
$fn$;
