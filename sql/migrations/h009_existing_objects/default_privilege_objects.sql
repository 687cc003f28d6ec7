CREATE FUNCTION hardening.default_privilege_objects(p_step text)
RETURNS TABLE (schema_name name, object_name name, relkind "char", privilege text, grantee text)
LANGUAGE sql STABLE AS $fn$
    -- The relations that exist now and that the default privileges recorded by p_step would
    -- have covered had they been created later: in the record's schema, owned by its owner, of
    -- its kind (TABLES: tables, partitioned and foreign tables, views, materialized views;
    -- SEQUENCES: sequences), each with the record's privilege and grantee. Alembic's version
    -- tables (primary key <table>_pkc on version_num, as alembic creates them) are left out:
    -- the group roles never write the migrations' state.
    SELECT n.nspname, c.relname, c.relkind, d.target->>'privilege', d.target->>'grantee'
    FROM hardening.applied d
    JOIN pg_namespace n ON n.nspname = d.target->>'schema'
    JOIN pg_class c ON c.relnamespace = n.oid
    JOIN pg_roles o ON o.oid = c.relowner AND o.rolname = d.target->>'owner'
    WHERE d.step = p_step AND d.kind = 'default_privilege_granted'
      AND c.relkind = ANY (CASE d.target->>'objects' WHEN 'SEQUENCES' THEN '{S}'
                           ELSE '{r,p,f,v,m}' END::"char"[])
      AND NOT EXISTS (SELECT FROM pg_constraint k JOIN pg_attribute a
                      ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
                      WHERE k.conrelid = c.oid AND k.contype = 'p'
                        AND k.conname = c.relname || '_pkc' AND a.attname = 'version_num')
    ORDER BY 1, 2, 5, 4;
$fn$;
