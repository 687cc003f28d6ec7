-- auto_explain cannot print bind values or verbose output where pgcrypto columns exist. With
-- auto_explain active (log_min_duration >= 0), custom plans fold bind values into constants:
-- log_verbose = on prints them in Output: lines (a pgcrypto column's password, the plaintext),
-- and on 16+ log_parameter_max_length <> 0 prints every bind value. Judged in this session and
-- in every database- or role-level value that applies in this database. auto_explain counts
-- as loaded when its settings are listed in pg_settings (preloaded, or loaded for this
-- session) or a session_preload_libraries value here names it; pgcrypto columns: pgcrypto is
-- installed and a table outside the system schemas has a bytea column.
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
, judged AS (
    SELECT 'this session' AS applies_to, p.name, current_setting(p.name, true) AS value
    FROM unnest(ARRAY['auto_explain.log_min_duration', 'auto_explain.log_verbose',
                      'auto_explain.log_parameter_max_length']) AS p(name)
    UNION ALL
    SELECT applies_to, name, value FROM overrides
    WHERE name IN ('auto_explain.log_min_duration', 'auto_explain.log_verbose',
                   'auto_explain.log_parameter_max_length')
), state AS (
    SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'auto_explain.log_min_duration')
           OR EXISTS (SELECT 1 FROM overrides
                      WHERE name = 'session_preload_libraries' AND value ~ 'auto_explain')
               AS loaded,
           EXISTS (SELECT 1 FROM judged WHERE name = 'auto_explain.log_min_duration'
                   AND btrim(value) ~ '^[0-9]') AS active,
           EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto')
           AND EXISTS (SELECT 1 FROM pg_attribute AS a
                       JOIN pg_class AS c ON c.oid = a.attrelid
                       JOIN pg_namespace AS n ON n.oid = c.relnamespace
                       WHERE a.atttypid = 'bytea'::regtype AND a.attnum > 0
                         AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
                         AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'hardening')
                         AND n.nspname NOT LIKE 'pg\_toast%%') AS pgcrypto_columns
), leaks AS (
    SELECT applies_to, name, value FROM judged
    WHERE (name = 'auto_explain.log_verbose'
           AND lower(btrim(value)) ~ '^(t|tr|tru|true|y|ye|yes|on|1)$')
       OR (name = 'auto_explain.log_parameter_max_length'
           AND current_setting('server_version_num')::int >= 160000
           AND NOT coalesce(btrim(value) ~ '^0+ *(b|kb|mb|gb|tb)?$', false))
)
SELECT NOT (s.loaded AND s.active AND s.pgcrypto_columns AND EXISTS (SELECT 1 FROM leaks)) AS ok,
       CASE WHEN NOT s.loaded THEN 'auto_explain is not loaded'
            WHEN NOT s.active THEN 'auto_explain is loaded and logs no plan (log_min_duration = -1)'
            WHEN NOT s.pgcrypto_columns THEN 'auto_explain logs plans; no pgcrypto columns here'
            WHEN NOT EXISTS (SELECT 1 FROM leaks)
                THEN 'auto_explain logs plans without bind values or verbose output'
            ELSE 'auto_explain logs plans with pgcrypto columns here, and prints bind values: '
                 || (SELECT string_agg(name || ' = ' || coalesce(value, '') || ' (' || applies_to
                                       || ')', ', ' ORDER BY name, applies_to) FROM leaks)
       END AS observed
FROM state AS s;
