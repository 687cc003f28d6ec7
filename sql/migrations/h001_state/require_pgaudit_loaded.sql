CREATE FUNCTION hardening.require_pgaudit_loaded(p_step text) RETURNS void
LANGUAGE plpgsql AS $fn$
-- pgaudit only works when the server preloads it; a migration cannot change that.
DECLARE
    preload text;
BEGIN
    -- A preloaded pgaudit defines its parameters in every session; an unloaded one does not.
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'pgaudit.log') THEN
        RETURN;
    END IF;
    SELECT setting INTO preload FROM pg_settings WHERE name = 'shared_preload_libraries';
    RAISE EXCEPTION 'pg-hardening: step % needs pgaudit in shared_preload_libraries (now %); add it and restart the server, then run the upgrade again',
        p_step, coalesce(quote_literal(preload), 'not readable by this role')
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = E'how to load pgaudit:\n'
                  '  plain server: shared_preload_libraries = ''pgaudit'' in postgresql.conf (keep other libraries in the list), restart\n'
                  '  Docker: docker run ... postgres -c shared_preload_libraries=pgaudit (image with pgaudit installed)\n'
                  '  Amazon RDS / Aurora: add pgaudit to shared_preload_libraries in the DB (cluster) parameter group, reboot; create role rds_pgaudit and run with -x audit_role=rds_pgaudit\n'
                  '  Google Cloud SQL: set the database flag cloudsql.enable_pgaudit=on, restart\n'
                  '  Azure Database for PostgreSQL: add PGAUDIT to azure.extensions and to shared_preload_libraries, restart';
END
$fn$;
