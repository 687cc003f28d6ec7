-- Non-superuser login roles without a connection limit (predefined pg_* roles excluded).
-- One row per role.
SELECT rolname AS role
FROM pg_roles
WHERE rolcanlogin
  AND NOT rolsuper
  AND rolconnlimit = -1
  AND rolname NOT LIKE 'pg\_%'
ORDER BY rolname;
