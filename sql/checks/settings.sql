-- Server settings judged by rules: this session's value, and every database- or role-level
-- value (ALTER DATABASE / ALTER ROLE ... SET) that a session in this database can get, must
-- match each rule. Several controls share this query; each binds its own rules, one array
-- element per rule (docs/verify.md, "Settings"):
--   settings  the parameters' names
--   accepts   a regular expression the lower-cased, trimmed value must match
--   expects   what the value should be, in words, for the report
--   lows, highs  bounds on the numeric value in the parameter's base unit ('' for none),
--             checked on this session's value
-- This session's value comes from pg_settings where the role may read it, else from
-- current_setting(), which raises "permission denied" for a hidden one (verify reports a skip
-- naming the role that may). A parameter this server does not have passes ("not on this
-- server"). A pgaudit.* parameter counts only while pgaudit is loaded: a loaded pgaudit's
-- settings are listed in pg_settings; the placeholder an ALTER DATABASE/ROLE ... SET leaves on
-- a server that does not preload pgaudit is not, and current_setting() still returns its value.
-- One row: ok (boolean), observed (text).
-- setting_overrides (shared: the same lines in every check that judges a setting; see
-- docs/verify.md): each ALTER DATABASE / ALTER ROLE [IN DATABASE] ... SET value that a
-- session in this database can get, one row per setting. A role-wide value is left out
-- when the same role has its own value for that setting in this database (that one wins).
WITH overrides AS (
    SELECT lower(split_part(s.setting, '=', 1)) AS name,
           substr(s.setting, strpos(s.setting, '=') + 1) AS value,
           rs.setrole AS role_oid,
           coalesce(r.rolname::text, '(every role)') AS role,
           coalesce(d.datname::text, '(every database)') AS database,
           CASE WHEN rs.setrole = 0 THEN 'database ' || quote_ident(d.datname)
                WHEN rs.setdatabase = 0 THEN 'role ' || quote_ident(r.rolname)
                ELSE 'role ' || quote_ident(r.rolname) || ' in database ' || quote_ident(d.datname)
           END AS applies_to
    FROM pg_db_role_setting AS rs
    LEFT JOIN pg_database AS d ON d.oid = rs.setdatabase
    LEFT JOIN pg_roles AS r ON r.oid = rs.setrole
    CROSS JOIN LATERAL unnest(rs.setconfig) AS s(setting)
    WHERE (rs.setdatabase = 0 OR d.datname = current_database())
      AND NOT (rs.setdatabase = 0 AND EXISTS (
          SELECT 1
          FROM pg_db_role_setting AS here
          JOIN pg_database AS hd ON hd.oid = here.setdatabase
          CROSS JOIN LATERAL unnest(here.setconfig) AS hs(setting)
          WHERE hd.datname = current_database()
            AND here.setrole = rs.setrole
            AND lower(split_part(hs.setting, '=', 1)) = lower(split_part(s.setting, '=', 1))
      ))
)
-- end setting_overrides
, rules AS (
    SELECT r.n, r.setting, lower(r.setting) AS name, r.accept, r.expect,
           nullif(r.low, '')::numeric AS low, nullif(r.high, '')::numeric AS high
    FROM unnest(%(settings)s::text[], %(accepts)s::text[], %(expects)s::text[],
                %(lows)s::text[], %(highs)s::text[])
         WITH ORDINALITY AS r(setting, accept, expect, low, high, n)
), pgaudit AS (
    SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pgaudit.log') AS loaded
), here AS (
    -- A value this session SET (verify's own statement_timeout) is not what sessions get:
    -- reset_val is. So is it for tcp_keepalives_*, which a Unix-socket session shows as 0.
    SELECT r.*,
           CASE WHEN s.source = 'session'
                     OR (r.name LIKE 'tcp\_keepalives\_%%' AND inet_client_addr() IS NULL)
                THEN s.reset_val ELSE s.setting END AS base,
           CASE WHEN s.source = 'session' THEN 'reset value' ELSE s.source END AS source,
           CASE WHEN s.source = 'session' THEN s.reset_val || coalesce(s.unit, '')
                ELSE current_setting(r.setting, true) END AS value,
           r.name LIKE 'pgaudit.%%' AND NOT (SELECT loaded FROM pgaudit) AS unloaded
    FROM rules AS r
    LEFT JOIN pg_settings AS s ON s.name = r.name
), judged AS (
    SELECT h.*,
           h.unloaded
           OR (h.value IS NOT NULL
               AND NOT (coalesce(lower(btrim(coalesce(h.base, h.value))) ~ h.accept, false)
                        AND (h.low IS NULL OR h.base::numeric >= h.low)
                        AND (h.high IS NULL OR h.base::numeric <= h.high))) AS bad
    FROM here AS h
), overridden AS (
    SELECT o.applies_to, r.n, r.setting, o.value
    FROM overrides AS o
    JOIN rules AS r ON r.name = o.name
    WHERE NOT coalesce(lower(btrim(o.value)) ~ r.accept, false)
)
SELECT NOT EXISTS (SELECT 1 FROM judged WHERE bad)
       AND NOT EXISTS (SELECT 1 FROM overridden) AS ok,
       (SELECT string_agg(
                   CASE WHEN j.unloaded
                            THEN 'pgaudit is not loaded (not in shared_preload_libraries)'
                                 || coalesce(': ' || j.setting || ' = ' || j.value
                                             || ' has no effect', '')
                        WHEN j.value IS NULL THEN j.setting || ' is not on this server'
                        ELSE j.setting || ' = ' || j.value
                             || coalesce(' (source: ' || j.source || ')', '')
                             || CASE WHEN j.bad THEN ', expected ' || j.expect ELSE '' END
                   END, '; ' ORDER BY j.n)
        FROM judged AS j
        WHERE j.bad OR NOT EXISTS (SELECT 1 FROM judged WHERE bad))
       || coalesce('; overridden by ' || (
              SELECT string_agg(applies_to || ': ' || setting || ' = ' || coalesce(value, ''),
                                ', ' ORDER BY applies_to, n)
              FROM overridden), '') AS observed;
