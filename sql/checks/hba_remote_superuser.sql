-- Network rules (not loopback) that admit a superuser: pg_hba.conf is read top down and the
-- first rule matching the connection decides, so a rule counts unless an earlier `reject`
-- rule for that superuser covers it (same or wider connection type, database list and
-- address). A superuser matches `all`, its own name, a `+group` it is a member of
-- (directly or through other roles: superusers are not members of every group here) and a
-- /regex. Needs pg_hba_file_rules (superuser). One row per rule, naming the superusers.
-- Group membership is followed up from the superusers only: the cost follows them and their
-- groups, not the number of roles.
WITH RECURSIVE superuser_groups(superuser_oid, group_oid) AS (
    SELECT am.member, am.roleid
    FROM pg_auth_members AS am
    WHERE am.member IN (SELECT oid FROM pg_roles WHERE rolsuper)
    UNION
    SELECT sg.superuser_oid, am.roleid
    FROM superuser_groups AS sg
    JOIN pg_auth_members AS am ON am.member = sg.group_oid
),
-- hba_rules (shared: the same lines in every check that reads pg_hba.conf; see
-- docs/verify.md): the rules the server loaded without errors, each with network (its address
-- with the prefix length its netmask gives; NULL for keywords such as all, samehost and
-- samenet, for host names and for local rules) and loopback (only this host can match it).
rules AS (
    SELECT h.line_number, h.type, h.database, h.user_name, h.address, h.auth_method,
           h.options,
           CASE WHEN h.netmask IS NOT NULL THEN (
               SELECT set_masklen(h.address::inet, min(n))
               FROM generate_series(0, CASE family(h.netmask::inet) WHEN 4 THEN 32 ELSE 128 END)
                    AS n
               WHERE netmask(set_masklen(h.netmask::inet, n)) = h.netmask::inet
           ) END AS network
    FROM pg_hba_file_rules AS h
    WHERE h.error IS NULL
), classified AS (
    SELECT *, coalesce(network <<= '127.0.0.0/8' OR network <<= '::1/128',
                       address IN ('samehost', 'localhost'), false) AS loopback
    FROM rules
)
-- end hba_rules
, matches AS (
    -- (rule, superuser) pairs where the rule's user column names the superuser
    SELECT c.line_number, s.rolname
    FROM classified AS c
    CROSS JOIN pg_roles AS s
    WHERE s.rolsuper
      AND EXISTS (
          SELECT 1
          FROM unnest(c.user_name) AS u(entry)
          WHERE u.entry IN ('all', s.rolname::text)
             OR (u.entry LIKE '+%' AND EXISTS (
                     SELECT 1 FROM superuser_groups AS sg
                     WHERE sg.superuser_oid = s.oid
                       AND pg_get_userbyid(sg.group_oid) = substr(u.entry, 2)))
             OR (u.entry LIKE '/%' AND s.rolname ~ substr(u.entry, 2))
      )
)
SELECT b.line_number AS line, b.type, array_to_string(b.user_name, ',') AS user_name,
       coalesce(b.network::text, b.address) AS address, b.auth_method AS method,
       string_agg(m.rolname, ', ' ORDER BY m.rolname) AS superusers
FROM classified AS b
JOIN matches AS m ON m.line_number = b.line_number
WHERE b.type LIKE 'host%' AND NOT b.loopback
  AND b.auth_method <> 'reject'
  AND NOT EXISTS (
      SELECT 1
      FROM classified AS a
      JOIN matches AS am ON am.line_number = a.line_number AND am.rolname = m.rolname
      WHERE a.line_number < b.line_number
        AND a.auth_method = 'reject'
        AND (a.type = 'host' OR a.type = b.type)
        AND ((('all' = ANY (a.database)) AND NOT ('replication' = ANY (b.database)))
             OR a.database @> b.database)
        AND (a.address = 'all'
             OR a.network >>= b.network
             OR (a.network IS NULL AND a.address = b.address))
  )
GROUP BY b.line_number, b.type, b.user_name, b.network, b.address, b.auth_method
ORDER BY b.line_number;
