CREATE FUNCTION hardening.ensure_role(p_step text, p_role text, p_setting text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Create a NOLOGIN role unless it exists, marked with hardening.kit_role_comment(). An existing
-- NOLOGIN role is adopted: one that existed before the kit is kept on downgrade as it was (and
-- never marked); one the kit created for another database that still uses it is recorded here
-- too, so that whichever database is downgraded last drops it (undo keeps a role something
-- still uses). A marked role no other database uses (its database was dropped, not
-- downgraded) was there before this database's upgrade: adopted and kept like any other.
DECLARE
    can_login boolean;
BEGIN
    SELECT rolcanlogin INTO can_login FROM pg_roles WHERE rolname = p_role;
    IF FOUND THEN
        IF can_login THEN
            RAISE EXCEPTION 'pg-hardening: role % exists and can log in; the kit''s roles must be NOLOGIN',
                quote_ident(p_role)
                USING ERRCODE = 'invalid_role_specification',
                      HINT = format('ALTER ROLE %I NOLOGIN, or choose another name with the setting %s',
                                    p_role, p_setting);
        END IF;
        IF hardening.created_by_kit(p_role) AND hardening.role_used_elsewhere(p_role) IS NOT NULL THEN
            PERFORM hardening.record(p_step, 'role_created',
                                     jsonb_build_object('role', p_role, 'shared', true));
        END IF;
        RETURN;
    END IF;
    PERFORM hardening.require(p_step, 'createrole');
    EXECUTE format('CREATE ROLE %I NOLOGIN', p_role);
    EXECUTE format('COMMENT ON ROLE %I IS %L', p_role, hardening.kit_role_comment());
    PERFORM hardening.record(p_step, 'role_created', jsonb_build_object('role', p_role));
END
$fn$;
