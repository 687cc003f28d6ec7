-- Non-superuser roles holding CREATEDB (predefined pg_* roles excluded) that a
-- session can use: login roles, and NOLOGIN roles a non-superuser login role is a member of
-- (directly or through other roles: it can SET ROLE to them and create databases).
-- From PostgreSQL 16 a grant made WITH SET FALSE does not allow SET ROLE, so the chain follows
-- only grants with the SET option (read through to_jsonb: the column does not exist on 15,
-- where every grant allows SET ROLE).
-- One row per role; login_members lists those members.
WITH RECURSIVE settable(roleid, member) AS (
    SELECT am.roleid, am.member
    FROM pg_auth_members AS am
    WHERE coalesce((to_jsonb(am) ->> 'set_option')::boolean, true)
),
members(role_oid, member_oid) AS (
    SELECT roleid, member FROM settable
    UNION
    SELECT m.role_oid, s.member
    FROM members AS m
    JOIN settable AS s ON s.roleid = m.member_oid
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
