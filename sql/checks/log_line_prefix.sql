-- CIS 3.1.24: every log line says when (%m or %t), which session (%p or %c), who (%u),
-- in which database (%d) and from where (%h or %r).
-- One row: ok (boolean), observed (text, naming what is missing).
WITH prefix AS (
    SELECT current_setting('log_line_prefix') AS value
), wanted(escapes, meaning) AS (
    VALUES (ARRAY['%m', '%t', '%n'], 'time'),
           (ARRAY['%p', '%c'], 'process or session id'),
           (ARRAY['%u'], 'user'),
           (ARRAY['%d'], 'database'),
           (ARRAY['%h', '%r'], 'client address')
), missing AS (
    SELECT meaning
    FROM wanted, prefix
    WHERE NOT EXISTS (SELECT 1 FROM unnest(escapes) AS e WHERE strpos(prefix.value, e) > 0)
)
SELECT NOT EXISTS (SELECT 1 FROM missing) AS ok,
       format('log_line_prefix = %L', prefix.value)
       || coalesce('; missing: ' || (SELECT string_agg(meaning, ', ') FROM missing), '')
           AS observed
FROM prefix;
