-- CIS 3.1.23: clients are logged by address, without reverse DNS.
-- One row: ok (boolean), observed (text).
SELECT setting = 'off' AS ok,
       format('log_hostname = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_hostname';
