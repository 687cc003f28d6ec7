-- The test revision's body of hardening.grant_privilege: it grants nothing and says it ran.
CREATE OR REPLACE FUNCTION hardening.grant_privilege(p_step text, p_type text, p_schema text,
                                                     p_name text, p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE NOTICE 'test body of hardening.grant_privilege called by step %', p_step;
END
$fn$;
