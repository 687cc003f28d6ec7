-- New passwords are stored as SCRAM-SHA-256 verifiers (the kit sets this per database).
-- One row: ok (boolean), observed (text).
SELECT setting = 'scram-sha-256' AS ok,
       format('password_encryption = %s (source: %s)', setting, source) AS observed
FROM pg_settings
WHERE name = 'password_encryption';
