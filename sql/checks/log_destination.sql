-- CIS 3.1.2: the server log goes to at least one destination.
-- One row: ok (boolean), observed (text).
SELECT setting <> '' AS ok,
       format('log_destination = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_destination';
