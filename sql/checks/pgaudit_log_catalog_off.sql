-- pgaudit does not log statements that only read the system catalogs: off in this session
-- and in every database- or role-level setting that applies in this database.
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
, pgaudit AS (
    -- a loaded pgaudit's settings are listed in pg_settings (for every role); the placeholder
    -- an ALTER DATABASE/ROLE ... SET leaves on a server that does not preload pgaudit is not
    SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pgaudit.log') AS loaded
)
, judged AS (
    SELECT 'this session' AS applies_to, current_setting('pgaudit.log_catalog', true) AS value
    UNION ALL
    SELECT applies_to, value FROM overrides WHERE name = 'pgaudit.log_catalog'
), bad AS (
    SELECT applies_to, value FROM judged
    WHERE NOT coalesce(lower(btrim(value)) ~ '^(f|fa|fal|fals|false|n|no|of|off|0)$', false)
)
SELECT (SELECT loaded FROM pgaudit) AND NOT EXISTS (SELECT 1 FROM bad) AS ok,
       CASE WHEN NOT (SELECT loaded FROM pgaudit)
                THEN 'pgaudit is not loaded (not in shared_preload_libraries)'
                     || coalesce(': pgaudit.log_catalog = '
                                 || current_setting('pgaudit.log_catalog', true)
                                 || ' has no effect', '')
            ELSE 'pgaudit.log_catalog = ' || current_setting('pgaudit.log_catalog', true)
       END
       || coalesce('; overridden by ' || (
              SELECT string_agg(applies_to || ' = ' || coalesce(value, ''), ', '
                                ORDER BY applies_to)
              FROM bad WHERE applies_to <> 'this session'), '') AS observed;
