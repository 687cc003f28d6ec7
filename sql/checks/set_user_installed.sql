-- The set_user extension is created in this database (whether it is packaged is in observed).
-- One row: ok (boolean), observed (text).
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'set_user') AS ok,
       CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'set_user')
                THEN 'set_user is installed'
            WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'set_user')
                THEN 'set_user is available but not installed'
            ELSE 'set_user is not available on this server' END AS observed;
