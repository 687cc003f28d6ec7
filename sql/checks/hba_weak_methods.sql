-- CIS 5.1/5.2: pg_hba.conf rules (as the server loaded them) that authenticate with trust,
-- password (cleartext) or md5. Needs pg_hba_file_rules (superuser).
-- One row per rule.
SELECT line_number AS line, type, array_to_string(database, ',') AS database,
       array_to_string(user_name, ',') AS user_name,
       coalesce(address || coalesce('/' || netmask, ''), '') AS address,
       auth_method AS method
FROM pg_hba_file_rules
WHERE auth_method IN ('trust', 'password', 'md5')
ORDER BY line_number;
