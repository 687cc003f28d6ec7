-- CIS 3.2: pgaudit is loaded at server start.
-- current_setting() raises "permission denied" for roles without pg_read_all_settings,
-- which verify reports as a skip (pg_settings would just hide the row).
-- One row: ok (boolean), observed (text).
SELECT 'pgaudit' = ANY (
           string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')
       ) AS ok,
       format('shared_preload_libraries = %L', current_setting('shared_preload_libraries'))
           AS observed;
