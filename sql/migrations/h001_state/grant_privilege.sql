CREATE FUNCTION hardening.grant_privilege(p_step text, p_type text, p_schema text, p_name text,
                                          p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- GRANT unless already held directly; fail (and roll back) if the GRANT had no effect.
DECLARE
    ref text := hardening.object_reference(p_type, p_schema, p_name);
    priv text := hardening.privilege_keyword(p_privilege);
BEGIN
    IF hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RETURN;
    END IF;
    IF hardening.may_grant(p_type, p_schema, p_name, priv) THEN
        EXECUTE format('GRANT %s ON %s TO %s', priv, ref, hardening.grantee_reference(p_grantee));
    END IF;
    IF NOT hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RAISE EXCEPTION 'pg-hardening: step % could not grant % on % to %: role % neither owns it nor holds % on it WITH GRANT OPTION',
            p_step, priv, ref, p_grantee, quote_ident(current_user), priv
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as its owner %I (or a superuser): GRANT %s ON %s TO %I WITH GRANT OPTION; '
                                'or run the step as the owner or a superuser',
                                hardening.object_owner(p_type, p_schema, p_name), priv, ref, current_user)
                         || CASE WHEN p_type = 'table' THEN '; or leave the table out of the setting audit_tables' ELSE '' END;
    END IF;
    PERFORM hardening.record(p_step, 'privilege_granted',
        jsonb_build_object('type', p_type, 'schema', p_schema, 'name', p_name,
                           'privilege', priv, 'grantee', p_grantee));
END
$fn$;
