-- TLS 1.0 and 1.1 are refused.
-- One row: ok (boolean), observed (text).
SELECT setting IN ('TLSv1.2', 'TLSv1.3') AS ok,
       format('ssl_min_protocol_version = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'ssl_min_protocol_version';
