-- CIS 6.8: the server accepts TLS connections.
-- One row: ok (boolean), observed (text).
SELECT setting = 'on' AS ok,
       format('ssl = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'ssl';
