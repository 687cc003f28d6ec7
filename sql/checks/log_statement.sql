-- At least DDL statements are logged.
-- One row: ok (boolean), observed (text).
SELECT setting IN ('ddl', 'mod', 'all') AS ok,
       format('log_statement = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_statement';
