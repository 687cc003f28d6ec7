CREATE FUNCTION hardening.set_extension_function_cost(p_step text, p_extension text,
                                                      p_functions text[], p_cost real)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Tell the planner what p_extension's functions named in p_functions really cost (every arity).
-- An expensive function in a SELECT list lets the planner decrypt a large table in parallel
-- workers, and evaluates cheaper conditions first. Functions the migrating role cannot alter
-- are left as they are, with one NOTICE per owner that names the owner and the statements to
-- run as it: a trusted extension created by a non-superuser (pgcrypto by the database owner)
-- still has functions owned by the bootstrap superuser, and an adopted one its creator's.
DECLARE
    f record;
    kept jsonb := '{}';  -- owner -> [{"fix": "ALTER FUNCTION ...", "cost": its cost now}, ...]
    o record;
BEGIN
    FOR f IN
        SELECT p.procost, pg_get_userbyid(p.proowner) AS owner,
               format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature,
               pg_has_role(p.proowner, 'USAGE') AS may_alter
        FROM pg_extension e
        JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
                        AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
        JOIN pg_proc p ON p.oid = d.objid
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE e.extname = p_extension AND p.proname = ANY (p_functions)
        ORDER BY signature
    LOOP
        IF f.procost = p_cost THEN
            CONTINUE;
        ELSIF NOT f.may_alter THEN
            kept := kept || jsonb_build_object(f.owner, coalesce(kept -> f.owner, '[]') || jsonb_build_array(
                jsonb_build_object('fix', format('ALTER FUNCTION %s COST %s', f.signature, p_cost),
                                   'cost', f.procost)));
            CONTINUE;
        END IF;
        EXECUTE format('ALTER FUNCTION %s COST %s', f.signature, p_cost);
        PERFORM hardening.record(p_step, 'function_cost', jsonb_build_object('function', f.signature),
                                 jsonb_build_object('cost', f.procost));
    END LOOP;
    FOR o IN SELECT key AS owner, value AS functions FROM jsonb_each(kept) ORDER BY key LOOP
        RAISE NOTICE 'pg-hardening: step % left the planner cost of % % functions at % (not %): they belong to role %, and role % may not alter them',
            p_step, jsonb_array_length(o.functions), p_extension,
            (SELECT string_agg(DISTINCT k ->> 'cost', ', ') FROM jsonb_array_elements(o.functions) k),
            p_cost, quote_ident(o.owner), quote_ident(current_user)
            USING HINT = format('as %I (or another superuser): %s; a downgrade does not undo these', o.owner,
                                (SELECT string_agg(k ->> 'fix', '; ') FROM jsonb_array_elements(o.functions) k));
    END LOOP;
END
$fn$;
