-- Which managed service runs this server, from what it shows any role: the service's own
-- roles and functions, its settings listed in pg_settings, and a few of its settings read
-- with current_setting() (which also sees a placeholder set on the command line).
-- One row per marker found: platform (aurora, rds, cloudsql, azure), marker.
WITH markers(platform, kind, name) AS (
    VALUES ('aurora', 'function', 'aurora_version'),
           ('rds', 'role', 'rds_superuser'),
           ('rds', 'role', 'rdsadmin'),
           ('rds', 'setting', 'rds.force_ssl'),
           ('rds', 'setting', 'rds.extensions'),
           ('cloudsql', 'role', 'cloudsqlsuperuser'),
           ('cloudsql', 'role', 'cloudsqladmin'),
           ('cloudsql', 'setting', 'cloudsql.iam_authentication'),
           ('cloudsql', 'setting', 'cloudsql.enable_pgaudit'),
           ('azure', 'role', 'azure_pg_admin'),
           ('azure', 'role', 'azuresu'),
           ('azure', 'setting', 'azure.extensions'),
           ('azure', 'setting', 'azure.accepted_password_auth_method')
), prefixes(platform, pattern) AS (
    VALUES ('aurora', 'aurora%'), ('aurora', 'apg\_%'), ('rds', 'rds.%'),
           ('cloudsql', 'cloudsql.%'), ('azure', 'azure.%')
)
SELECT m.platform, m.kind || ' ' || m.name AS marker
FROM markers AS m
WHERE CASE m.kind
          WHEN 'role' THEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = m.name)
          WHEN 'function' THEN EXISTS (SELECT 1 FROM pg_proc WHERE proname = m.name)
          ELSE current_setting(m.name, true) IS NOT NULL
      END
UNION
SELECT p.platform, 'setting ' || s.name
FROM prefixes AS p
JOIN pg_settings AS s ON s.name LIKE p.pattern
ORDER BY 1, 2;
