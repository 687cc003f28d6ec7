CREATE FUNCTION hardening.object_reference(p_type text, p_schema text, p_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    IF p_type = 'database' THEN
        RETURN format('DATABASE %I', current_database());
    ELSIF p_type = 'schema' THEN
        IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = p_schema) THEN
            RAISE EXCEPTION 'pg-hardening: schema % does not exist', quote_ident(p_schema)
                USING ERRCODE = 'invalid_schema_name';
        END IF;
        RETURN format('SCHEMA %I', p_schema);
    ELSIF p_type = 'table' THEN
        IF NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = p_schema AND c.relname = p_name) THEN
            RAISE EXCEPTION 'pg-hardening: table %.% does not exist', quote_ident(p_schema), quote_ident(p_name)
                USING ERRCODE = 'undefined_table',
                      HINT = 'create it before this step or remove it from the setting audit_tables';
        END IF;
        RETURN format('TABLE %I.%I', p_schema, p_name);
    END IF;
    RAISE EXCEPTION 'pg-hardening: unknown object type %', p_type;
END
$fn$;
