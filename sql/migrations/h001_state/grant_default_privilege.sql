CREATE FUNCTION hardening.grant_default_privilege(p_step text, p_owner text, p_schema text,
                                                  p_objects text, p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- ALTER DEFAULT PRIVILEGES FOR ROLE p_owner IN SCHEMA p_schema GRANT ... (future objects).
-- An empty p_owner means the migrating role.
DECLARE
    priv text := hardening.privilege_keyword(p_privilege);
    owner_role text := coalesce(nullif(p_owner, ''), current_user);
BEGIN
    IF p_objects NOT IN ('TABLES', 'SEQUENCES') THEN
        RAISE EXCEPTION 'pg-hardening: default privileges on % are not supported', p_objects;
    END IF;
    PERFORM hardening.object_reference('schema', p_schema, NULL);
    IF hardening.holds_default(owner_role, p_schema, p_objects, priv, p_grantee) THEN
        RETURN;
    END IF;
    IF NOT pg_has_role(current_user, owner_role, 'MEMBER') THEN
        RAISE EXCEPTION 'pg-hardening: step % sets default privileges for role % and role % is not a member of it',
            p_step, quote_ident(owner_role), quote_ident(current_user)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT %I TO %I, or set table_owner_role to a role you belong to', owner_role, current_user);
    END IF;
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT %s ON %s TO %I',
                   owner_role, p_schema, priv, p_objects, p_grantee);
    PERFORM hardening.record(p_step, 'default_privilege_granted',
        jsonb_build_object('owner', owner_role, 'schema', p_schema, 'objects', p_objects,
                           'privilege', priv, 'grantee', p_grantee));
END
$fn$;
