-- CIS 3.1.21: every disconnection is logged with the session's duration.
-- One row: ok (boolean), observed (text).
SELECT setting = 'on' AS ok,
       format('log_disconnections = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_disconnections';
