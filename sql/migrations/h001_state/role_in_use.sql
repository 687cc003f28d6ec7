CREATE FUNCTION hardening.role_in_use(p_role text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    -- Anything outside the kit's own records that would break or vanish with DROP ROLE:
    -- owned objects or privileges in any database, members or groups, role settings,
    -- another database's pgaudit.role.
    SELECT EXISTS (SELECT FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
                   WHERE d.refclassid = 'pg_authid'::regclass AND r.rolname = p_role)
        OR EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
                   WHERE r.rolname = p_role)
        OR EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                   WHERE r.rolname = p_role AND m.member <> (SELECT oid FROM pg_roles WHERE rolname = current_user))
        OR EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                   WHERE r.rolname = p_role)
        OR hardening.role_used_elsewhere(p_role) IS NOT NULL;
$fn$;
