-- Superusers, listed when there is more than one.
-- One row per superuser.
SELECT rolname AS role, rolcanlogin AS can_login
FROM pg_roles
WHERE rolsuper AND (SELECT count(*) FROM pg_roles WHERE rolsuper) > 1
ORDER BY rolname;
