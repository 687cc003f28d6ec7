-- Database- and role-level settings (ALTER ROLE/DATABASE ... SET, pg_db_role_setting)
-- that apply to this database and silence audit records: a pgaudit.log that drops ddl, role
-- or write, or a log_min_messages above pgaudit.log_level (the server then discards
-- pgaudit's lines). Where a role or database sets only one of the two, the other comes from
-- the database-level setting, else from this session.
-- One row per override that narrows auditing, and one when pgaudit is not loaded at all.
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
, narrowed_classes AS (
    SELECT o.database, o.role, format('pgaudit.log = %L', o.value) AS setting,
           string_agg(req.class, ', ' ORDER BY req.n) AS drops
    FROM overrides AS o
    CROSS JOIN (VALUES (1, 'ddl'), (2, 'role'), (3, 'write')) AS req(n, class)
    WHERE o.name = 'pgaudit.log'
      AND (NOT EXISTS (
               SELECT 1
               FROM unnest(string_to_array(lower(o.value), ',')) AS c
               WHERE btrim(c) IN (req.class, 'all')
           )
           OR EXISTS (
               SELECT 1
               FROM unnest(string_to_array(lower(o.value), ',')) AS c
               WHERE btrim(c) = '-' || req.class
           ))
    GROUP BY o.database, o.role, o.value
), levels(level, rank) AS (
    -- the server log's order of severity (LOG ranks between ERROR and FATAL there)
    VALUES ('debug5', 1), ('debug4', 2), ('debug3', 3), ('debug2', 4), ('debug1', 5),
           ('info', 6), ('notice', 7), ('warning', 8), ('error', 9), ('log', 10),
           ('fatal', 11), ('panic', 12)
), scopes AS (
    SELECT DISTINCT role_oid
    FROM overrides
    WHERE name IN ('log_min_messages', 'pgaudit.log_level')
), effective AS (
    SELECT CASE WHEN current_database() IN (CASE WHEN rm.value IS NULL THEN dm.database
                                                 ELSE rm.database END,
                                            CASE WHEN ra.value IS NULL THEN da.database
                                                 ELSE ra.database END)
                THEN current_database() ELSE '(every database)' END AS database,
           coalesce(rm.role, ra.role, '(every role)') AS role,
           coalesce(rm.value, dm.value, current_setting('log_min_messages')) AS min_messages,
           coalesce(ra.value, da.value, current_setting('pgaudit.log_level', true), 'log')
               AS audit_level
    FROM scopes AS s
    LEFT JOIN overrides AS rm
           ON rm.role_oid = s.role_oid AND s.role_oid <> 0 AND rm.name = 'log_min_messages'
    LEFT JOIN overrides AS ra
           ON ra.role_oid = s.role_oid AND s.role_oid <> 0 AND ra.name = 'pgaudit.log_level'
    LEFT JOIN overrides AS dm ON dm.role_oid = 0 AND dm.name = 'log_min_messages'
    LEFT JOIN overrides AS da ON da.role_oid = 0 AND da.name = 'pgaudit.log_level'
), silenced AS (
    SELECT e.database, e.role,
           format('log_min_messages = %L above pgaudit.log_level = %L',
                  e.min_messages, e.audit_level) AS setting,
           'every audit record' AS drops
    FROM effective AS e
    JOIN levels AS m ON m.level = lower(btrim(e.min_messages))
    JOIN levels AS a ON a.level = lower(btrim(e.audit_level))
    WHERE m.rank > a.rank
)
SELECT current_database() AS database, '(every role)' AS role,
       'pgaudit is not loaded (not in shared_preload_libraries)' AS setting,
       'every audit record' AS drops
FROM pgaudit
WHERE NOT loaded
UNION ALL
SELECT database, role, setting, drops FROM narrowed_classes
UNION ALL
SELECT database, role, setting, drops FROM silenced
ORDER BY database, role, setting;
