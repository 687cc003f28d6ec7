-- CIS 4.2: non-superuser roles holding CREATEDB (predefined pg_* roles excluded) that a
-- session can use: login roles, and NOLOGIN roles a non-superuser login role is a member of
-- (directly or through other roles: it can SET ROLE to them and create databases).
-- One row per role; login_members lists those members.
WITH RECURSIVE members(role_oid, member_oid) AS (
    SELECT roleid, member FROM pg_auth_members
    UNION
    SELECT m.role_oid, am.member
    FROM members AS m
    JOIN pg_auth_members AS am ON am.roleid = m.member_oid
)
SELECT r.rolname AS role, r.rolcanlogin AS can_login,
       (SELECT string_agg(DISTINCT l.rolname, ', ')
        FROM members AS m
        JOIN pg_roles AS l ON l.oid = m.member_oid
        WHERE m.role_oid = r.oid AND l.rolcanlogin AND NOT l.rolsuper) AS login_members
FROM pg_roles AS r
WHERE r.rolcreatedb
  AND NOT r.rolsuper
  AND r.rolname NOT LIKE 'pg\_%'
  AND (r.rolcanlogin OR EXISTS (
      SELECT 1
      FROM members AS m
      JOIN pg_roles AS l ON l.oid = m.member_oid
      WHERE m.role_oid = r.oid AND l.rolcanlogin AND NOT l.rolsuper
  ))
ORDER BY r.rolname;
