-- Who logs in as a superuser: superusers that can log in, and login roles that are
-- members of a superuser (directly or through other roles). Administrators should log in as
-- themselves and escalate with set_user, which records the switch.
-- One row per login role, with how it reaches superuser.
WITH RECURSIVE granted(superuser_oid, member_oid, path) AS (
    SELECT s.oid, am.member, s.rolname::text
    FROM pg_roles AS s
    JOIN pg_auth_members AS am ON am.roleid = s.oid
    WHERE s.rolsuper
    UNION
    SELECT g.superuser_oid, am.member, g.path
    FROM granted AS g
    JOIN pg_auth_members AS am ON am.roleid = g.member_oid
)
SELECT r.rolname AS role, 'is a superuser that can log in' AS how
FROM pg_roles AS r
WHERE r.rolsuper AND r.rolcanlogin
UNION ALL
SELECT r.rolname, 'is a member of superuser ' || string_agg(DISTINCT g.path, ', ')
FROM granted AS g
JOIN pg_roles AS r ON r.oid = g.member_oid
WHERE r.rolcanlogin AND NOT r.rolsuper
GROUP BY r.rolname
ORDER BY 1;
