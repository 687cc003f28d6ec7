-- CIS 5.2: network rules that admit wide address ranges: 'all', samenet, or a prefix shorter
-- than /16 (IPv4) or /48 (IPv6). Rules that reject are not findings.
-- Needs pg_hba_file_rules (superuser). One row per rule.
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
SELECT line_number AS line, type, coalesce(network::text, address) AS address,
       auth_method AS method
FROM classified
WHERE address IN ('all', 'samenet')
   OR (family(network) = 4 AND masklen(network) < 16)
   OR (family(network) = 6 AND masklen(network) < 48)
ORDER BY line_number;
