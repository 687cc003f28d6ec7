CREATE FUNCTION hardening.privilege_keyword(p_privilege text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    IF p_privilege IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                       'TRIGGER', 'USAGE', 'CREATE', 'CONNECT', 'TEMPORARY') THEN
        RETURN p_privilege;
    END IF;
    RAISE EXCEPTION 'pg-hardening: % is not a privilege', quote_literal(p_privilege)
        USING HINT = 'use SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, USAGE, CREATE, CONNECT or TEMPORARY';
END
$fn$;
