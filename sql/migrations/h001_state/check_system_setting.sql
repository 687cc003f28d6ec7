CREATE FUNCTION hardening.check_system_setting(p_step text, p_setting text, p_value text,
                                               p_from text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Fail unless the server would take p_value for p_setting in ALTER SYSTEM, before anything is
-- committed: ALTER SYSTEM runs outside the transaction, one setting at a time, so a value it
-- refuses there would leave the others applied. p_from names the kit setting the value came
-- from ('' for the profile's fixed values). Enum values are checked against pg_settings.enumvals
-- and booleans parsed; a parameter this session may SET is also set (and rolled back) so the
-- server parses it with its own checks.
DECLARE
    s pg_settings%ROWTYPE;
    subject text := CASE WHEN p_from = '' THEN format('the value %L for %s', p_value, p_setting)
                         ELSE format('setting %s is %L; %s', p_from, p_value, p_setting) END;
    fix text := CASE WHEN p_from = '' THEN 'report this as a pg-hardening bug'
                     ELSE format('pass -x %s=... with a value from the list', p_from) END;
BEGIN
    SELECT * INTO s FROM pg_settings WHERE name = p_setting;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg-hardening: step % sets parameter % and this server has no such parameter',
            p_step, p_setting
            USING ERRCODE = 'undefined_object';
    END IF;
    IF p_value ~ '[\n\r]' THEN
        RAISE EXCEPTION 'pg-hardening: step %: % must be one line (ALTER SYSTEM refuses line breaks)',
            p_step, CASE WHEN p_from = '' THEN p_setting ELSE 'setting ' || p_from END
            USING ERRCODE = 'invalid_parameter_value', HINT = 'nothing was changed';
    END IF;
    IF s.vartype = 'enum'
       AND NOT EXISTS (SELECT FROM unnest(s.enumvals) AS v WHERE lower(v) = lower(p_value)) THEN
        RAISE EXCEPTION 'pg-hardening: step %: % expects one of %',
            p_step, subject, array_to_string(s.enumvals, ', ')
            USING ERRCODE = 'invalid_parameter_value', HINT = fix || '; nothing was changed';
    ELSIF s.vartype = 'bool' THEN
        BEGIN
            PERFORM p_value::boolean;
        EXCEPTION WHEN invalid_text_representation THEN
            RAISE EXCEPTION 'pg-hardening: step %: % expects on or off', p_step, subject
                USING ERRCODE = 'invalid_parameter_value', HINT = fix || '; nothing was changed';
        END;
    END IF;
    IF s.context IN ('user', 'superuser') THEN
        BEGIN
            PERFORM set_config(p_setting, p_value, true);
            RAISE EXCEPTION USING ERRCODE = 'PH000';  -- parsed: undo the SET with the block
        EXCEPTION
            WHEN SQLSTATE 'PH000' THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE;
            WHEN OTHERS THEN
                RAISE EXCEPTION 'pg-hardening: step %: % is refused by the server: %', p_step, subject, SQLERRM
                    USING ERRCODE = 'invalid_parameter_value', HINT = fix || '; nothing was changed';
        END;
    END IF;
END
$fn$;
