-- PUBLIC (every role of the cluster) may connect to this database.
-- One row: ok (boolean), observed (text).
SELECT NOT has_database_privilege('public', current_database(), 'CONNECT') AS ok,
       format('database %I: CONNECT %s to PUBLIC', current_database(),
              CASE WHEN has_database_privilege('public', current_database(), 'CONNECT')
                   THEN 'granted' ELSE 'not granted' END) AS observed;
