-- Every log line says when (%m or %t), which session (%p or %c), who (%u),
-- in which database (%d) and from where (%h or %r).
-- Escapes are read as the server expands them: %% is a literal percent sign (so %%u records
-- no user), and a padded escape such as %-10u still records the user. The server profile of
-- the migrations (hardening.ops.LOG_LINE_PREFIX_NEEDS) applies the same rule.
-- One row: ok (boolean), observed (text, naming what is missing).
WITH prefix AS (
    SELECT current_setting('log_line_prefix') AS value
), expanded AS (
    SELECT coalesce(array_agg('%' || m[1]), '{}') AS escapes
    FROM prefix, regexp_matches(prefix.value, '%-?[0-9]*(.)', 'g') AS m
), wanted(escapes, meaning) AS (
    VALUES (ARRAY['%m', '%t', '%n'], 'time'),
           (ARRAY['%p', '%c'], 'process or session id'),
           (ARRAY['%u'], 'user'),
           (ARRAY['%d'], 'database'),
           (ARRAY['%h', '%r'], 'client address')
), missing AS (
    SELECT meaning
    FROM wanted, expanded
    WHERE NOT wanted.escapes && expanded.escapes
)
SELECT NOT EXISTS (SELECT 1 FROM missing) AS ok,
       format('log_line_prefix = %L', prefix.value)
       || coalesce('; missing: ' || (SELECT string_agg(meaning, ', ') FROM missing), '')
           AS observed
FROM prefix;
