-- TLS 1.0 and 1.1 are refused.
-- current_setting() raises "permission denied" for roles without pg_read_all_settings,
-- which verify reports as a skip naming it (pg_settings would just hide the row);
-- pg_settings adds where the value comes from.
-- One row: ok (boolean), observed (text).
SELECT v.setting IN ('TLSv1.2', 'TLSv1.3') AS ok,
       format('ssl_min_protocol_version = %s (source: %s)', v.setting, s.source) AS observed
FROM (SELECT current_setting('ssl_min_protocol_version') AS setting) AS v
LEFT JOIN pg_settings AS s ON s.name = 'ssl_min_protocol_version';
