-- WAL is archived (archive_mode on or always, with an archive_command or an
-- archive_library) and the archiver's latest attempt did not fail (pg_stat_archiver: no
-- failure later than the last success). current_setting() raises "permission denied" (a
-- skip) for a setting the role may not read.
-- One row: ok (boolean), observed (text).
WITH s AS (
    SELECT current_setting('archive_mode') AS mode,
           current_setting('archive_command') AS command,
           current_setting('archive_library', true) AS library
), a AS (
    SELECT archived_count, last_archived_time, failed_count, last_failed_time
    FROM pg_stat_archiver
)
SELECT s.mode IN ('on', 'always')
       AND (s.command NOT IN ('', '(disabled)') OR coalesce(s.library, '') <> '')
       AND (a.last_failed_time IS NULL
            OR a.last_failed_time < coalesce(a.last_archived_time, '-infinity')) AS ok,
       format('archive_mode = %s, archive_command = %L, archive_library = %L; archived %s, '
              'failed %s%s', s.mode, s.command, coalesce(s.library, ''), a.archived_count,
              a.failed_count,
              coalesce(', last failure ' || a.last_failed_time::text, '')) AS observed
FROM s, a;
