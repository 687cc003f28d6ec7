-- CREATE EXTENSION pgaudit has run in this database.
-- One row: ok (boolean), observed (text).
SELECT count(*) = 1 AS ok,
       coalesce('pgaudit ' || max(extversion) || ' installed', 'pgaudit is not installed')
           AS observed
FROM pg_extension
WHERE extname = 'pgaudit';
