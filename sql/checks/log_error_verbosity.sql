-- CIS 3.1.22: error records carry SQLSTATE and source location.
-- One row: ok (boolean), observed (text).
SELECT setting = 'verbose' AS ok,
       format('log_error_verbosity = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_error_verbosity';
