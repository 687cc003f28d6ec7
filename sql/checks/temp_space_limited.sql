-- Temporary files cannot fill the data directory's volume: temp_tablespaces names a
-- tablespace, or temp_file_limit caps what one session may write. current_setting() raises
-- "permission denied" (a skip) for a setting the role may not read.
-- One row: ok (boolean), observed (text).
WITH s AS (
    SELECT current_setting('temp_tablespaces') AS tablespaces,
           current_setting('temp_file_limit') AS file_limit
)
SELECT s.tablespaces <> '' OR s.file_limit <> '-1' AS ok,
       format('temp_tablespaces = %L, temp_file_limit = %s', s.tablespaces, s.file_limit)
           AS observed
FROM s;
