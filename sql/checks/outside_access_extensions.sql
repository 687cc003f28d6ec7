-- Extensions created in this database that reach outside it: the server's files
-- (adminpack, file_fdw) or other servers (dblink, postgres_fdw).
-- One row per extension.
SELECT e.extname AS extension, e.extversion AS version,
       CASE WHEN e.extname IN ('adminpack', 'file_fdw') THEN 'the server''s files'
            ELSE 'other servers' END AS reaches
FROM pg_extension AS e
WHERE e.extname IN ('adminpack', 'file_fdw', 'dblink', 'postgres_fdw')
ORDER BY e.extname;
