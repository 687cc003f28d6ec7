-- The pgcrypto extension is created in this database.
-- One row: ok (boolean), observed (text).
SELECT count(*) = 1 AS ok,
       CASE WHEN count(*) = 0 THEN 'pgcrypto is not installed'
            ELSE format('pgcrypto %s installed in schema %s', max(e.extversion), max(n.nspname))
       END AS observed
FROM pg_extension AS e
JOIN pg_namespace AS n ON n.oid = e.extnamespace
WHERE e.extname = 'pgcrypto';
