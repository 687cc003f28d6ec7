-- PUBLIC (every role of the cluster) may create temporary objects in this database.
-- One row: ok (boolean), observed (text).
SELECT NOT has_database_privilege('public', current_database(), 'TEMP') AS ok,
       format('database %I: TEMP %s to PUBLIC', current_database(),
              CASE WHEN has_database_privilege('public', current_database(), 'TEMP')
                   THEN 'granted' ELSE 'not granted' END) AS observed;
