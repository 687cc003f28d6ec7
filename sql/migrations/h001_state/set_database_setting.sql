CREATE FUNCTION hardening.set_database_setting(p_step text, p_setting text, p_value text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- ALTER DATABASE <current> SET p_setting = p_value, remembering the previous database-level value.
DECLARE
    prior text := hardening.database_setting(p_setting);
BEGIN
    PERFORM hardening.require(p_step, 'database_owner');
    IF NOT EXISTS (SELECT FROM pg_settings WHERE name = p_setting) THEN
        RAISE EXCEPTION 'pg-hardening: the server has no parameter %', p_setting
            USING ERRCODE = 'undefined_object';
    END IF;
    BEGIN
        EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(),
                       hardening.setting_reference(p_setting), p_value);
    EXCEPTION WHEN insufficient_privilege THEN
        PERFORM hardening.require_settable(p_step, ARRAY[p_setting], ARRAY[p_value]);
        RAISE;  -- not a missing SET privilege: the server's own reason
    END;
    PERFORM hardening.record(p_step, 'database_setting', jsonb_build_object('setting', p_setting),
                             jsonb_build_object('value', prior));
END
$fn$;
