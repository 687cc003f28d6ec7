-- Extensions created in this database at an older version than their installed files
-- provide (pg_available_extensions.default_version): ALTER EXTENSION ... UPDATE is pending.
-- One row per extension.
SELECT e.extname AS extension, e.extversion AS version,
       a.default_version AS available
FROM pg_extension AS e
JOIN pg_available_extensions AS a ON a.name = e.extname
WHERE a.default_version IS NOT NULL AND e.extversion <> a.default_version
ORDER BY e.extname;
