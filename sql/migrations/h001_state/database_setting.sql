CREATE FUNCTION hardening.database_setting(p_setting text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT value FROM hardening.database_settings WHERE name = p_setting;
$fn$;
