-- The connection verify itself uses is TLS-encrypted (pg_stat_ssl, own session).
-- One row: ok (boolean), observed (text).
SELECT coalesce(ssl, false) AS ok,
       CASE WHEN ssl THEN format('%s, cipher %s, %s bits', version, cipher, bits)
            ELSE 'this session is not encrypted' END AS observed
FROM pg_stat_ssl
WHERE pid = pg_backend_pid();
