CREATE FUNCTION hardening.undo(p_step text) RETURNS void
LANGUAGE plpgsql AS $fn$
-- Reverse every change p_step recorded, newest first, and forget the records.
DECLARE
    r hardening.applied%ROWTYPE;
    t jsonb;
    used_by text;
BEGIN
    FOR r IN SELECT * FROM hardening.applied WHERE step = p_step ORDER BY seq DESC LOOP
        t := r.target;
        CASE r.kind
        WHEN 'extension_created' THEN
            EXECUTE format('DROP EXTENSION IF EXISTS %I', t->>'extension');
        WHEN 'database_setting' THEN
            IF r.prior->>'value' IS NULL THEN
                EXECUTE format('ALTER DATABASE %I RESET %s', current_database(),
                               hardening.setting_reference(t->>'setting'));
            ELSE
                EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(),
                               hardening.setting_reference(t->>'setting'), r.prior->>'value');
            END IF;
        WHEN 'role_created' THEN
            used_by := hardening.role_used_elsewhere(t->>'role');
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = t->>'role') THEN
                NULL;
            ELSIF used_by IS NOT NULL THEN
                RAISE NOTICE 'pg-hardening: kept role % because database % still uses it; the downgrade that leaves no database using it drops it',
                    quote_ident(t->>'role'), used_by;
            ELSIF hardening.role_in_use(t->>'role') THEN
                RAISE NOTICE 'pg-hardening: kept role % because other objects, grants, members or role settings depend on it',
                    quote_ident(t->>'role')
                    USING HINT = format('once nothing needs it: DROP ROLE %I', t->>'role');
            ELSE
                EXECUTE format('DROP ROLE %I', t->>'role');
            END IF;
        WHEN 'membership_granted' THEN
            -- a kit role another database still uses keeps the membership that database's
            -- hardening relies on; the last downgrade (which drops the role) revokes it
            IF pg_has_role(t->>'member', t->>'role', 'MEMBER')
               AND NOT (hardening.created_by_kit(t->>'member')
                        AND hardening.role_used_elsewhere(t->>'member') IS NOT NULL) THEN
                EXECUTE format('REVOKE %I FROM %I', t->>'role', t->>'member');
            END IF;
        WHEN 'privilege_granted' THEN
            EXECUTE format('REVOKE %s ON %s FROM %s', hardening.privilege_keyword(t->>'privilege'),
                           hardening.object_reference(t->>'type', t->>'schema', t->>'name'),
                           hardening.grantee_reference(t->>'grantee'));
        WHEN 'privilege_revoked' THEN
            EXECUTE format('GRANT %s ON %s TO %s', hardening.privilege_keyword(t->>'privilege'),
                           hardening.object_reference(t->>'type', t->>'schema', t->>'name'),
                           hardening.grantee_reference(t->>'grantee'));
        WHEN 'default_privilege_granted' THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I REVOKE %s ON %s FROM %I',
                           t->>'owner', t->>'schema', hardening.privilege_keyword(t->>'privilege'),
                           t->>'objects', t->>'grantee');
        WHEN 'function_cost' THEN
            IF to_regprocedure(t->>'function') IS NOT NULL THEN  -- gone with its extension: nothing to do
                EXECUTE format('ALTER FUNCTION %s COST %s', t->>'function', r.prior->>'cost');
            END IF;
        WHEN 'system_setting' THEN
            RAISE EXCEPTION 'pg-hardening: step % changed server settings with ALTER SYSTEM; '
                            'downgrade it with alembic (online), not with SQL', p_step;
        ELSE
            RAISE EXCEPTION 'pg-hardening: unknown record kind % in hardening.applied', r.kind;
        END CASE;
        DELETE FROM hardening.applied WHERE seq = r.seq;
    END LOOP;
END
$fn$;
