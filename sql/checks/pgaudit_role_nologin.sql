-- pgaudit.role (object audit) names a role that exists and cannot log in: in this session and
-- in every database- or role-level setting that applies in this database.
-- Parameter: audit_role, the role the kit creates (setting audit_role).
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
    SELECT 'this session' AS applies_to,
           nullif(current_setting('pgaudit.role', true), '') AS value
    UNION ALL
    SELECT applies_to, nullif(value, '') FROM overrides WHERE name = 'pgaudit.role'
), verdicts AS (
    SELECT j.applies_to, j.value,
           r.rolname IS NOT NULL AND NOT r.rolcanlogin AS ok,
           CASE WHEN j.value IS NULL AND j.applies_to <> 'this session'
                    THEN 'pgaudit.role is set empty'
                WHEN j.value IS NULL
                    THEN format('pgaudit.role is not set (the kit uses %%s)', %(audit_role)s::text)
                WHEN r.rolname IS NULL
                    THEN format('pgaudit.role = %%s, but no such role exists', j.value)
                ELSE format('pgaudit.role = %%s (%%s)', j.value,
                            CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END)
           END AS described
    FROM judged AS j
    LEFT JOIN pg_roles AS r ON r.rolname = j.value
)
SELECT bool_and(ok) AND (SELECT loaded FROM pgaudit) AS ok,
       CASE WHEN NOT (SELECT loaded FROM pgaudit)
                THEN 'pgaudit is not loaded (not in shared_preload_libraries); '
                     || min(described) FILTER (WHERE applies_to = 'this session')
            ELSE min(described) FILTER (WHERE applies_to = 'this session')
       END
       || coalesce('; overridden by ' || string_agg(applies_to || ': ' || described, ', '
                                                   ORDER BY applies_to)
                       FILTER (WHERE applies_to <> 'this session' AND NOT ok), '') AS observed
FROM verdicts;
