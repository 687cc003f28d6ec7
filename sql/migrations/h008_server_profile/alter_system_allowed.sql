-- pg-hardening: may this server take ALTER SYSTEM? (step h008_server_profile, before any change)
DO $check$
BEGIN
    IF current_setting('allow_alter_system', true) = 'off' THEN
        RAISE EXCEPTION 'pg-hardening: step h008_server_profile uses ALTER SYSTEM and this server sets allow_alter_system = off'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'set the profile''s parameters in the server configuration instead, or leave server_profile=off';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_settings WHERE name = 'data_directory') THEN
        RAISE EXCEPTION 'pg-hardening: step h008_server_profile needs a self-managed server where ALTER SYSTEM is allowed'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'on RDS, Cloud SQL or Azure set these parameters in the parameter group / flags, and leave server_profile=off';
    END IF;
END
$check$;
