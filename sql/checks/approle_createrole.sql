-- Non-superuser roles holding CREATEROLE (predefined pg_* roles excluded).
-- One row per role.
SELECT rolname AS role, rolcanlogin AS can_login
FROM pg_roles
WHERE rolcreaterole
  AND NOT rolsuper
  AND rolname NOT LIKE 'pg\_%'
ORDER BY rolname;
