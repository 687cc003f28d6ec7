-- No EXECUTE for PUBLIC on the kit's functions: only the roles running migrations call them.
DO $revoke$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY hardening.kit_functions() LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$revoke$;
