-- CIS 3.1.26: log times are in UTC.
-- One row: ok (boolean), observed (text).
SELECT setting IN ('UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Etc/UCT', 'UCT', 'Etc/Universal', 'Universal', 'Zulu', 'Etc/Zulu') AS ok,
       format('log_timezone = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'log_timezone';
