-- Reads of the catalog (who lists roles and privileges) reach the log: log_statement = 'all',
-- or pgaudit loaded with the read class in pgaudit.log (or all, without -read) and
-- pgaudit.log_catalog on, in this session.
-- One row: ok (boolean), observed (text).
WITH s AS (
    SELECT current_setting('log_statement') AS log_statement,
           current_setting('pgaudit.log', true) AS audit_log,
           current_setting('pgaudit.log_catalog', true) AS audit_catalog,
           EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pgaudit.log') AS loaded
), classes AS (
    SELECT lower(btrim(c)) AS c
    FROM s, unnest(string_to_array(coalesce(s.audit_log, ''), ',')) AS c
)
SELECT s.log_statement = 'all'
       OR (s.loaded
           AND EXISTS (SELECT 1 FROM classes WHERE c IN ('read', 'all'))
           AND NOT EXISTS (SELECT 1 FROM classes WHERE c = '-read')
           AND lower(coalesce(s.audit_catalog, 'off')) IN ('on', 'true', 'yes', '1')) AS ok,
       format('log_statement = %L; pgaudit.log = %L; pgaudit.log_catalog = %L%s',
              s.log_statement, coalesce(s.audit_log, ''), coalesce(s.audit_catalog, ''),
              CASE WHEN s.loaded THEN '' ELSE ' (pgaudit is not loaded)' END) AS observed
FROM s;
