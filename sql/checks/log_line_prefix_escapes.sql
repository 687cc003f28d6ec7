-- log_line_prefix expands every escape a catalogue asks for; the control binds them as
-- %(escapes)s, e.g. {%%m,%%u,%%d}. Escapes are read as the server expands them: %%%% is a
-- literal percent sign (so %%%%u records no user) and a padded escape such as %%-10u still
-- records the user.
-- One row: ok (boolean), observed (text, naming the escapes missing).
WITH prefix AS (
    SELECT current_setting('log_line_prefix') AS value
), expanded AS (
    SELECT coalesce(array_agg('%%' || m[1]), '{}') AS escapes
    FROM prefix, regexp_matches(prefix.value, '%%-?[0-9]*(.)', 'g') AS m
), missing AS (
    SELECT w.escape, w.n
    FROM unnest(%(escapes)s::text[]) WITH ORDINALITY AS w(escape, n), expanded
    WHERE NOT w.escape = ANY (expanded.escapes)
)
SELECT NOT EXISTS (SELECT 1 FROM missing) AS ok,
       format('log_line_prefix = %%L', prefix.value)
       || coalesce('; missing: ' || (SELECT string_agg(escape, ' ' ORDER BY n) FROM missing), '')
           AS observed
FROM prefix;
