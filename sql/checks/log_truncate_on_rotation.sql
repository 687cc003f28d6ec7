-- CIS 3.1.7: time-based rotation truncates the reused file.
-- One row: ok (boolean), observed (text).
SELECT setting = 'on' AS ok,
       format('log_truncate_on_rotation = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_truncate_on_rotation';
