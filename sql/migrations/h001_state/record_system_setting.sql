CREATE FUNCTION hardening.record_system_setting(p_step text, p_setting text) RETURNS void
LANGUAGE sql AS $fn$
    -- Remember p_setting's ALTER SYSTEM value (postgresql.auto.conf) before the profile sets it.
    -- A record p_step kept from an interrupted earlier run already holds the value from before
    -- that run: it is not recorded again.
    SELECT hardening.record(p_step, 'system_setting', jsonb_build_object('setting', p_setting),
        jsonb_build_object('value', (SELECT setting FROM pg_file_settings
                                     WHERE name = p_setting AND sourcefile LIKE '%postgresql.auto.conf'
                                     ORDER BY seqno DESC LIMIT 1)))
    WHERE NOT EXISTS (SELECT FROM hardening.applied
                      WHERE step = p_step AND kind = 'system_setting' AND target->>'setting' = p_setting);
$fn$;
