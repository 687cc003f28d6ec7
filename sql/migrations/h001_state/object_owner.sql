CREATE FUNCTION hardening.object_owner(p_type text, p_schema text, p_name text) RETURNS name
LANGUAGE sql STABLE AS $fn$
    SELECT pg_get_userbyid(CASE p_type
        WHEN 'database' THEN (SELECT datdba FROM pg_database WHERE datname = current_database())
        WHEN 'schema' THEN (SELECT nspowner FROM pg_namespace WHERE nspname = p_schema)
        WHEN 'table' THEN (SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = p_schema AND c.relname = p_name)
    END);
$fn$;
