-- pg_hba.conf rules, as the server loaded them, that have the problem a control binds as
-- %(problem)s (rules that reject are never findings):
--   weak_method   trust, password (clear text) or md5 anywhere, or ident over the network
--   wide_range    a network rule for 'all', samenet, or a prefix shorter than /16 (IPv4) or
--                 /48 (IPv6)
--   without_tls   a network rule for a non-loopback address that takes sessions without TLS
--                 (host, hostnossl)
--   all_all       a network rule for a non-loopback address, every database and every user
--   not_external  a rule whose method is not one the organisation manages: gss, sspi, ldap
--                 or cert
-- Needs pg_hba_file_rules (superuser). One row per rule.
WITH
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
SELECT line_number AS line, type, array_to_string(database, ',') AS database,
       array_to_string(user_name, ',') AS user_name,
       coalesce(network::text, address, '') AS address, auth_method AS method
FROM classified
WHERE auth_method <> 'reject'
  AND CASE %(problem)s
          WHEN 'weak_method' THEN auth_method IN ('trust', 'password', 'md5')
                                  OR (type LIKE 'host%%' AND auth_method = 'ident')
          WHEN 'wide_range' THEN type LIKE 'host%%'
                                 AND (address IN ('all', 'samenet')
                                      OR (family(network) = 4 AND masklen(network) < 16)
                                      OR (family(network) = 6 AND masklen(network) < 48))
          WHEN 'without_tls' THEN type IN ('host', 'hostnossl') AND NOT loopback
          WHEN 'all_all' THEN type LIKE 'host%%' AND NOT loopback
                              AND 'all' = ANY (database) AND 'all' = ANY (user_name)
          WHEN 'not_external' THEN auth_method NOT IN ('gss', 'sspi', 'ldap', 'cert')
      END
ORDER BY line_number;
