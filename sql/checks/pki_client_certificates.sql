-- Clients can be authenticated by certificates the server validates: ssl_ca_file names the
-- issuing CA, ssl_crl_file or ssl_crl_dir a revocation list, and at least one hostssl rule
-- demands a certificate (method cert, or clientcert=verify-ca / verify-full). Needs
-- pg_hba_file_rules (superuser).
-- One row: ok (boolean), observed (text, naming what is missing).
WITH s AS (
    SELECT current_setting('ssl_ca_file') AS ca_file,
           current_setting('ssl_crl_file') AS crl_file,
           current_setting('ssl_crl_dir', true) AS crl_dir
), cert_rules AS (
    SELECT h.line_number
    FROM pg_hba_file_rules AS h
    WHERE h.error IS NULL
      AND h.type = 'hostssl'
      AND (h.auth_method = 'cert'
           OR EXISTS (SELECT 1 FROM unnest(h.options) AS o
                      WHERE o IN ('clientcert=verify-ca', 'clientcert=verify-full')))
), missing AS (
    SELECT 1 AS n, 'ssl_ca_file (the CA that issues client certificates)' AS what
    FROM s WHERE s.ca_file = ''
    UNION ALL
    SELECT 2, 'ssl_crl_file or ssl_crl_dir (a certificate revocation list)'
    FROM s WHERE s.crl_file = '' AND coalesce(s.crl_dir, '') = ''
    UNION ALL
    SELECT 3, 'a hostssl rule with method cert or clientcert=verify-ca/verify-full'
    WHERE NOT EXISTS (SELECT 1 FROM cert_rules)
)
SELECT NOT EXISTS (SELECT 1 FROM missing) AS ok,
       format('ssl_ca_file = %L, ssl_crl_file = %L, ssl_crl_dir = %L; %s certificate rule(s)',
              s.ca_file, s.crl_file, coalesce(s.crl_dir, ''), (SELECT count(*) FROM cert_rules))
       || coalesce('; missing: ' || (SELECT string_agg(what, '; ' ORDER BY n) FROM missing), '')
           AS observed
FROM s;
