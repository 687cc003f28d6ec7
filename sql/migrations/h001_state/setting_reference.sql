CREATE FUNCTION hardening.setting_reference(p_setting text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    -- 'pgaudit.log' -> pgaudit.log, each part quoted as an identifier.
    SELECT string_agg(quote_ident(part), '.' ORDER BY n)
    FROM unnest(string_to_array(p_setting, '.')) WITH ORDINALITY AS p(part, n);
$fn$;
