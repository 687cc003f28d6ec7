-- pgaudit does not copy bind parameters into audit records.
-- One row: ok (boolean), observed (text).
SELECT current_setting('pgaudit.log_parameter', true) = 'off' IS TRUE AS ok,
       coalesce('pgaudit.log_parameter = ' || current_setting('pgaudit.log_parameter', true),
                'pgaudit is not loaded (no pgaudit.log_parameter setting)') AS observed;
