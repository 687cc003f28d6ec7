-- CIS 3.1.19: debug output, if any, is indented.
-- One row: ok (boolean), observed (text).
SELECT setting = 'on' AS ok,
       format('debug_pretty_print = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'debug_pretty_print';
