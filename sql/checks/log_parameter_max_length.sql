-- Bind parameters are not written to statement logs (the kit sets this per database).
-- One row: ok (boolean), observed (text).
SELECT setting = '0' AS ok,
       format('log_parameter_max_length = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_parameter_max_length';
