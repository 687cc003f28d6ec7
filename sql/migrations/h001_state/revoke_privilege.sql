CREATE FUNCTION hardening.revoke_privilege(p_step text, p_type text, p_schema text, p_name text,
                                           p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- REVOKE if held directly; fail (and roll back) if the REVOKE had no effect.
DECLARE
    ref text := hardening.object_reference(p_type, p_schema, p_name);
    priv text := hardening.privilege_keyword(p_privilege);
BEGIN
    IF NOT hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RETURN;
    END IF;
    EXECUTE format('REVOKE %s ON %s FROM %s', priv, ref, hardening.grantee_reference(p_grantee));
    IF hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RAISE EXCEPTION 'pg-hardening: step % could not revoke % on % from %: role % does not own it',
            p_step, priv, ref, p_grantee, quote_ident(current_user)
            USING ERRCODE = 'insufficient_privilege', HINT = 'run the step as the owner or a superuser';
    END IF;
    PERFORM hardening.record(p_step, 'privilege_revoked',
        jsonb_build_object('type', p_type, 'schema', p_schema, 'name', p_name,
                           'privilege', priv, 'grantee', p_grantee));
END
$fn$;
