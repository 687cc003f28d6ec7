-- CIS 3.1.20: every connection is logged.
-- One row: ok (boolean), observed (text).
SELECT setting = 'on' AS ok,
       format('log_connections = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_connections';
