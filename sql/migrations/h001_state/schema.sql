-- pg-hardening: the kit's state schema. The functions every revision calls are the other files
-- of this folder, run in the order hardening/steps/state.py lists.
--
-- Every change a revision makes is recorded in hardening.applied together with what was
-- there before, so that hardening.undo(step) puts back exactly the prior state and never
-- drops an extension or role that existed before the upgrade (adopted objects are left alone).
-- All functions are SECURITY INVOKER: they run with the migrating role's own privileges and
-- check those privileges before changing anything. Identifiers go through format('%I').

DO $state$
DECLARE
    created boolean := NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'hardening');
    grantee oid;
BEGIN
    IF NOT has_database_privilege(current_database(), 'CREATE') THEN
        RAISE EXCEPTION 'pg-hardening: step h001_state needs the CREATE privilege on database %',
            quote_ident(current_database())
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('run it as the database owner, or GRANT CREATE ON DATABASE %I TO %I',
                                current_database(), current_user);
    END IF;
    IF created THEN
        CREATE SCHEMA hardening;
        -- The migrating role's ALTER DEFAULT PRIVILEGES ... ON SCHEMAS must not open it.
        FOR grantee IN SELECT DISTINCT a.grantee FROM pg_namespace n, aclexplode(n.nspacl) a
                       WHERE n.nspname = 'hardening' AND a.grantee <> n.nspowner LOOP
            EXECUTE format('REVOKE ALL ON SCHEMA hardening FROM %s',
                           CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(grantee)) END);
        END LOOP;
    END IF;
    CREATE TABLE hardening.applied (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        step       text NOT NULL,
        kind       text NOT NULL,
        target     jsonb NOT NULL,
        prior      jsonb,
        applied_at timestamptz NOT NULL DEFAULT now(),
        applied_by name NOT NULL DEFAULT current_user
    );
    COMMENT ON TABLE hardening.applied IS
        'pg-hardening: each change a hardening step made and the state before it (for downgrade)';
    IF created THEN
        INSERT INTO hardening.applied (step, kind, target)
        VALUES ('h001_state', 'schema_created', jsonb_build_object('schema', 'hardening'));
    END IF;
END
$state$;

-- The current database's own settings (ALTER DATABASE ... SET), one row each.
CREATE VIEW hardening.database_settings AS
SELECT split_part(c.setting, '=', 1) AS name,
       substr(c.setting, strpos(c.setting, '=') + 1) AS value
FROM pg_db_role_setting s
CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
WHERE s.setrole = 0
  AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database());
