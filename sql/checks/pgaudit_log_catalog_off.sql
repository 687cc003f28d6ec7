-- pgaudit does not log statements that only read the system catalogs.
-- One row: ok (boolean), observed (text).
SELECT current_setting('pgaudit.log_catalog', true) = 'off' IS TRUE AS ok,
       coalesce('pgaudit.log_catalog = ' || current_setting('pgaudit.log_catalog', true),
                'pgaudit is not loaded (no pgaudit.log_catalog setting)') AS observed;
