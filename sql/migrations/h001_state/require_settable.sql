CREATE FUNCTION hardening.require_settable(p_step text, p_settings text[], p_values text[])
RETURNS void LANGUAGE plpgsql AS $fn$
-- Fail unless the current role may ALTER DATABASE <current> SET each p_settings[i] = p_values[i],
-- naming every parameter it may not set and the GRANT that fixes it. The server answers: each
-- ALTER DATABASE runs in a subtransaction that is rolled back. A superuser may set anything; a
-- non-superuser needs SET on each superuser-only parameter (GRANT SET ON PARAMETER, PostgreSQL
-- 15+), unless a managed service grants its admin role more.
DECLARE
    refused text[] := '{}';
    i int;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_settings, 1), 0) LOOP
        BEGIN
            EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(),
                           hardening.setting_reference(p_settings[i]), p_values[i]);
            RAISE EXCEPTION USING ERRCODE = 'PH000';  -- allowed: undo it with the block
        EXCEPTION
            WHEN SQLSTATE 'PH000' THEN
                NULL;
            WHEN insufficient_privilege THEN
                refused := refused || p_settings[i];
        END;
    END LOOP;
    IF refused <> '{}' THEN
        RAISE EXCEPTION 'pg-hardening: step % needs SUPERUSER or the SET privilege on parameters %, and role % has neither',
            p_step, array_to_string(refused, ', '), quote_ident(current_user)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as a superuser: GRANT SET ON PARAMETER %s TO %I (PostgreSQL 15+); '
                                'or run the step as a superuser. See docs/migrations.md for what a '
                                'non-superuser needs',
                                (SELECT string_agg(hardening.setting_reference(r), ', ') FROM unnest(refused) AS r),
                                current_user);
    END IF;
END
$fn$;
