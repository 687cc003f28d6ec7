-- CIS 3.1.6: log files are readable by the server's OS user only.
-- One row: ok (boolean), observed (text).
SELECT setting = '0600' AS ok,
       format('log_file_mode = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_file_mode';
