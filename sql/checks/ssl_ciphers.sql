-- The ssl_ciphers setting names only strong, forward-secret suites: every entry is excluded
-- (!, -) or is one of the TLS 1.3 suites, or an ECDHE/DHE suite with AES-GCM, AES-CCM or
-- ChaCha20-Poly1305. current_setting() raises "permission denied" for roles without
-- pg_read_all_settings (a skip naming it).
-- One row: ok (boolean), observed (text, naming the entries that are not allowed).
WITH setting AS (
    SELECT current_setting('ssl_ciphers') AS value
), entries AS (
    SELECT btrim(e) AS entry, n
    FROM setting, regexp_split_to_table(setting.value, '[:, ]+') WITH ORDINALITY AS t(e, n)
    WHERE btrim(e) <> ''
), weak AS (
    SELECT entry, n
    FROM entries
    WHERE entry !~ '^[!-]'
      AND upper(entry) !~ '^(TLS_AES_(128|256)_GCM_SHA(256|384)|TLS_AES_128_CCM_SHA256|TLS_CHACHA20_POLY1305_SHA256)$'
      AND upper(entry) !~ '^(ECDHE|DHE)-(RSA|ECDSA|DSS)-(AES(128|256)-(GCM-SHA(256|384)|CCM)|CHACHA20-POLY1305)$'
)
SELECT NOT EXISTS (SELECT 1 FROM weak) AS ok,
       format('ssl_ciphers = %L', setting.value)
       || coalesce('; not allowed: ' || (SELECT string_agg(entry, ', ' ORDER BY n) FROM weak), '')
           AS observed
FROM setting;
