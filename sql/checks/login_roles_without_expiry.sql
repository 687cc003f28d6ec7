-- Login roles whose password never expires (no VALID UNTIL, or 'infinity').
-- One row per role.
SELECT rolname AS role, coalesce(rolvaliduntil::text, 'never') AS valid_until
FROM pg_roles
WHERE rolcanlogin
  AND (rolvaliduntil IS NULL OR rolvaliduntil = 'infinity')
ORDER BY rolname;
