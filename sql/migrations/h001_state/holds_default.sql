CREATE FUNCTION hardening.holds_default(p_owner text, p_schema text, p_objects text,
                                        p_privilege text, p_grantee text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    SELECT EXISTS (
        SELECT FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
        WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = p_owner)
          AND d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = p_schema)
          AND d.defaclobjtype = CASE p_objects WHEN 'TABLES' THEN 'r' WHEN 'SEQUENCES' THEN 'S' END
          AND a.privilege_type = p_privilege
          AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = p_grantee));
$fn$;
