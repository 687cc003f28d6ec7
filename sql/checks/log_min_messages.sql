-- CIS 3.1.14: warnings and more severe messages reach the log.
-- One row: ok (boolean), observed (text).
SELECT setting IN ('debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'info', 'notice', 'warning') AS ok,
       format('log_min_messages = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_min_messages';
