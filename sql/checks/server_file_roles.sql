-- Login roles (not superusers) that are members, directly or through other roles, of
-- pg_read_server_files, pg_write_server_files or pg_execute_server_program: they can read
-- or write any file the server can, or run programs as its operating-system account.
-- One row per login role, naming the predefined roles it holds.
WITH RECURSIVE members(role_oid, member_oid) AS (
    SELECT am.roleid, am.member
    FROM pg_auth_members AS am
    WHERE am.roleid IN (SELECT oid FROM pg_roles
                        WHERE rolname IN ('pg_read_server_files', 'pg_write_server_files',
                                          'pg_execute_server_program'))
    UNION
    SELECT m.role_oid, am.member
    FROM members AS m
    JOIN pg_auth_members AS am ON am.roleid = m.member_oid
)
SELECT r.rolname AS role,
       string_agg(DISTINCT pg_get_userbyid(m.role_oid), ', ') AS holds
FROM members AS m
JOIN pg_roles AS r ON r.oid = m.member_oid
WHERE r.rolcanlogin AND NOT r.rolsuper
GROUP BY r.rolname
ORDER BY r.rolname;
