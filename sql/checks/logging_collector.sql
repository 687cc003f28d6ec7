-- CIS 3.1.3: the logging collector writes the log to rotated files.
-- One row: ok (boolean), observed (text).
SELECT setting = 'on' AS ok,
       format('logging_collector = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'logging_collector';
