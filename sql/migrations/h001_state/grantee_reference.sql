CREATE FUNCTION hardening.grantee_reference(p_grantee text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN p_grantee = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(p_grantee) END;
$fn$;
