-- CIS 3.2: the session's pgaudit.log (database- and role-level settings applied) includes
-- ddl, role and write, directly or through 'all', and excludes none of them ('-ddl').
-- One row: ok (boolean), observed (text).
WITH setting AS (
    SELECT current_setting('pgaudit.log', true) AS value
), classes AS (
    SELECT lower(btrim(c)) AS c
    FROM setting, unnest(string_to_array(coalesce(setting.value, ''), ',')) AS c
), required(class) AS (
    VALUES ('ddl'), ('role'), ('write')
), missing AS (
    SELECT class FROM required
    WHERE NOT (class IN (SELECT c FROM classes) OR 'all' IN (SELECT c FROM classes))
       OR '-' || class IN (SELECT c FROM classes)
)
SELECT setting.value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM missing) AS ok,
       CASE WHEN setting.value IS NULL THEN 'pgaudit is not loaded (no pgaudit.log setting)'
            ELSE format('pgaudit.log = %L', setting.value)
                 || coalesce('; missing: ' || (SELECT string_agg(class, ', ') FROM missing), '')
       END AS observed
FROM setting;
