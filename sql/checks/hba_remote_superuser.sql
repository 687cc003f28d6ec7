-- Network rules (not loopback, not reject) that a superuser matches: user 'all' or a
-- superuser's name. Needs pg_hba_file_rules (superuser). One row per rule.
WITH rules AS (
    -- network: the rule's address with its prefix length (from the netmask), NULL for
    -- keywords (all, samehost, samenet) and host names.
    SELECT h.line_number, h.type, h.user_name, h.address, h.auth_method,
           CASE WHEN h.netmask IS NOT NULL THEN (
               SELECT set_masklen(h.address::inet, min(n))
               FROM generate_series(0, CASE family(h.netmask::inet) WHEN 4 THEN 32 ELSE 128 END)
                    AS n
               WHERE netmask(set_masklen(h.netmask::inet, n)) = h.netmask::inet
           ) END AS network
    FROM pg_hba_file_rules AS h
    WHERE h.type LIKE 'host%' AND h.auth_method <> 'reject' AND h.error IS NULL
), classified AS (
    SELECT *, coalesce(network <<= '127.0.0.0/8' OR network <<= '::1/128',
                       address IN ('samehost', 'localhost')) AS loopback
    FROM rules
)
SELECT line_number AS line, type, array_to_string(user_name, ',') AS user_name,
       coalesce(network::text, address) AS address, auth_method AS method
FROM classified
WHERE NOT loopback
  AND ('all' = ANY (user_name)
       OR user_name && ARRAY(SELECT rolname::text FROM pg_roles WHERE rolsuper))
ORDER BY line_number;
