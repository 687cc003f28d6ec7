CREATE FUNCTION hardening.grant_role(p_step text, p_role text, p_member text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- GRANT p_role TO p_member unless p_member already has p_role's privileges. An adopted member
-- that does not inherit them (NOINHERIT, or a PostgreSQL 16+ grant WITH INHERIT FALSE) is refused:
-- the kit grants p_role for its privileges, and changing how the role inherits is the owner's call.
BEGIN
    IF pg_has_role(p_member, p_role, 'USAGE') THEN
        -- granted to a kit role by another database's upgrade: recorded here too, so that the
        -- last database's downgrade revokes it before dropping the role (see undo)
        IF hardening.created_by_kit(p_member) AND hardening.role_used_elsewhere(p_member) IS NOT NULL
           AND EXISTS (SELECT FROM pg_auth_members m
                       WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = p_role)
                         AND m.member = (SELECT oid FROM pg_roles WHERE rolname = p_member)) THEN
            PERFORM hardening.record(p_step, 'membership_granted',
                                     jsonb_build_object('role', p_role, 'member', p_member, 'shared', true));
        END IF;
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM pg_auth_members m
               WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = p_role)
                 AND m.member = (SELECT oid FROM pg_roles WHERE rolname = p_member))
       OR NOT (SELECT rolinherit FROM pg_roles WHERE rolname = p_member) THEN
        RAISE EXCEPTION 'pg-hardening: step % needs role % to inherit the privileges of %, and it does not',
            p_step, quote_ident(p_member), quote_ident(p_role)
            USING ERRCODE = 'invalid_grant_operation',
                  HINT = format('ALTER ROLE %I INHERIT; on PostgreSQL 16+ also GRANT %I TO %I WITH INHERIT TRUE; '
                                'or choose another role name for the kit', p_member, p_role, p_member);
    END IF;
    BEGIN
        EXECUTE format('GRANT %I TO %I', p_role, p_member);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'pg-hardening: step % grants role % and needs SUPERUSER or ADMIN OPTION on it',
            p_step, quote_ident(p_role)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as a superuser: GRANT %I TO %I WITH ADMIN OPTION', p_role, current_user);
    END;
    PERFORM hardening.record(p_step, 'membership_granted',
                             jsonb_build_object('role', p_role, 'member', p_member));
END
$fn$;
