-- pg-hardening: remove the kit's state schema (downgrade of h001_state). The schema itself
-- is dropped only if h001_state created it; anything else left in it keeps it (and fails).
DO $state$
DECLARE
    created boolean := EXISTS (SELECT FROM hardening.applied WHERE kind = 'schema_created');
    leftover text;
    f regprocedure;
BEGIN
    SELECT string_agg(DISTINCT step, ', ') INTO leftover FROM hardening.applied WHERE step <> 'h001_state';
    IF leftover IS NOT NULL THEN
        RAISE EXCEPTION 'pg-hardening: hardening.applied still records changes of steps %; downgrade those first', leftover;
    END IF;
    FOREACH f IN ARRAY hardening.kit_functions() LOOP  -- itself last: it is the list's end
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
    DROP VIEW hardening.database_settings;
    DROP TABLE hardening.applied;
    IF created THEN
        DROP SCHEMA hardening;
    END IF;
END
$state$;
