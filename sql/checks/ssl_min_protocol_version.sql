-- TLS 1.0 and 1.1 are refused.
-- pg_settings hides this setting from roles without pg_read_all_settings; current_setting()
-- then raises "permission denied", which verify reports as a skip naming it. pg_settings is
-- read first, and adds where the value comes from (and lets the migrations judge a value
-- before they set it, with a pg_settings of their own).
-- One row: ok (boolean), observed (text).
SELECT v.setting IN ('TLSv1.2', 'TLSv1.3') AS ok,
       format('ssl_min_protocol_version = %s (source: %s)', v.setting, v.source) AS observed
FROM (
    SELECT coalesce(s.setting, current_setting('ssl_min_protocol_version')) AS setting,
           s.source
    FROM (SELECT 1) AS one
    LEFT JOIN pg_settings AS s ON s.name = 'ssl_min_protocol_version'
) AS v;
