-- Login roles with no password at all (needs pg_authid: superuser).
-- One row per role.
SELECT rolname AS role, rolsuper AS superuser
FROM pg_authid
WHERE rolcanlogin AND rolpassword IS NULL
ORDER BY rolname;
