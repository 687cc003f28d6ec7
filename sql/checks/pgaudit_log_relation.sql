-- pgaudit writes one record per relation a statement touches.
-- One row: ok (boolean), observed (text).
SELECT current_setting('pgaudit.log_relation', true) = 'on' IS TRUE AS ok,
       coalesce('pgaudit.log_relation = ' || current_setting('pgaudit.log_relation', true),
                'pgaudit is not loaded (no pgaudit.log_relation setting)') AS observed;
