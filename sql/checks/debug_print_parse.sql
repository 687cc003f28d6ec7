-- CIS 3.1.16: no parse trees in the log.
-- One row: ok (boolean), observed (text).
SELECT setting = 'off' AS ok,
       format('debug_print_parse = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'debug_print_parse';
