CREATE FUNCTION hardening.may_grant(p_type text, p_schema text, p_name text, p_privilege text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    -- Whether the current role may grant p_privilege on the object: it is a superuser, owns the
    -- object (or belongs to its owner), or holds the privilege WITH GRANT OPTION.
    SELECT CASE p_type
        WHEN 'database' THEN has_database_privilege(current_database(), p_privilege || ' WITH GRANT OPTION')
        WHEN 'schema' THEN has_schema_privilege(p_schema, p_privilege || ' WITH GRANT OPTION')
        WHEN 'table' THEN has_table_privilege(format('%I.%I', p_schema, p_name), p_privilege || ' WITH GRANT OPTION')
    END;
$fn$;
