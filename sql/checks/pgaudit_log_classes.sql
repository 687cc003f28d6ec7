-- The session's pgaudit.log (database- and role-level settings applied) includes
-- ddl, role and write, directly or through 'all', and excludes none of them ('-ddl').
-- pgaudit must be loaded: a loaded pgaudit's settings are listed in pg_settings (for every
-- role), while the placeholder an ALTER DATABASE/ROLE ... SET pgaudit.log leaves on a server
-- that does not preload pgaudit is not, and current_setting() still returns its value.
-- One row: ok (boolean), observed (text).
WITH setting AS (
    SELECT current_setting('pgaudit.log', true) AS value,
           EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pgaudit.log') AS loaded
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
SELECT setting.loaded AND NOT EXISTS (SELECT 1 FROM missing) AS ok,
       CASE WHEN NOT setting.loaded
                THEN 'pgaudit is not loaded (not in shared_preload_libraries)'
                     || coalesce(format(': pgaudit.log = %L has no effect', setting.value), '')
            ELSE format('pgaudit.log = %L', setting.value)
                 || coalesce('; missing: ' || (SELECT string_agg(class, ', ') FROM missing), '')
       END AS observed
FROM setting;
