CREATE FUNCTION hardening.created_by_kit(p_role text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT shobj_description(oid, 'pg_authid') = hardening.kit_role_comment()
                     FROM pg_roles WHERE rolname = p_role), false);
$fn$;
