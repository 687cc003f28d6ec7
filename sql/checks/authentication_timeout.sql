-- A client has at most 60 seconds to authenticate.
-- One row: ok (boolean), observed (text).
SELECT setting::int <= 60 AS ok,
       format('authentication_timeout = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'authentication_timeout';
