-- CIS 3.1.15: statements causing errors are logged.
-- One row: ok (boolean), observed (text).
SELECT setting IN ('debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'info', 'notice', 'warning', 'error') AS ok,
       format('log_min_error_statement = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_min_error_statement';
