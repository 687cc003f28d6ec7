-- Roles whose stored password is an MD5 verifier (needs pg_authid: superuser).
-- One row per role.
SELECT rolname AS role, rolcanlogin AS can_login
FROM pg_authid
WHERE rolpassword LIKE 'md5%'
ORDER BY rolname;
