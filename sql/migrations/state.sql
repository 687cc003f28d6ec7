-- pg-hardening: the kit's state schema and the functions every revision calls.
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

CREATE FUNCTION hardening.owner_only(p_relation regclass) RETURNS void
LANGUAGE plpgsql AS $fn$
-- Revoke whatever the migrating role's ALTER DEFAULT PRIVILEGES granted on one of the kit's
-- new tables, views or sequences: others must neither write the records a downgrade replays
-- nor read the password history. The kit's own grants (step h006_audit_roles) come later.
DECLARE
    grantee oid;
BEGIN
    FOR grantee IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                   WHERE c.oid = p_relation AND a.grantee <> c.relowner LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', p_relation,
                       CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(grantee)) END);
    END LOOP;
END
$fn$;

SELECT hardening.owner_only(r)
FROM unnest(ARRAY['hardening.applied', 'hardening.applied_seq_seq',
                  'hardening.database_settings']::regclass[]) AS r;

CREATE FUNCTION hardening.require(p_step text, p_needs text) RETURNS void
LANGUAGE plpgsql AS $fn$
-- Fail unless the current role has each privilege in the comma-separated p_needs:
-- superuser, createrole, database_owner, create_on_database.
DECLARE
    need text;
    me pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO me FROM pg_roles WHERE rolname = current_user;
    IF me.rolsuper THEN
        RETURN;
    END IF;
    FOREACH need IN ARRAY string_to_array(replace(p_needs, ' ', ''), ',') LOOP
        IF need = 'superuser' THEN
            RAISE EXCEPTION 'pg-hardening: step % needs SUPERUSER and role % is not a superuser',
                p_step, quote_ident(current_user)
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'run this step as a superuser, or stop before it: see docs/migrations.md';
        ELSIF need = 'createrole' AND NOT me.rolcreaterole THEN
            RAISE EXCEPTION 'pg-hardening: step % needs CREATEROLE and role % lacks it',
                p_step, quote_ident(current_user)
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('as a superuser: ALTER ROLE %I CREATEROLE', current_user);
        ELSIF need = 'database_owner' AND NOT pg_has_role(current_user,
                (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE') THEN
            RAISE EXCEPTION 'pg-hardening: step % needs ownership of database % and role % does not own it',
                p_step, quote_ident(current_database()), quote_ident(current_user)
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'run it as the database owner or a superuser';
        ELSIF need = 'create_on_database'
              AND NOT has_database_privilege(current_database(), 'CREATE') THEN
            RAISE EXCEPTION 'pg-hardening: step % needs the CREATE privilege on database %',
                p_step, quote_ident(current_database())
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('GRANT CREATE ON DATABASE %I TO %I', current_database(), current_user);
        ELSIF need NOT IN ('superuser', 'createrole', 'database_owner', 'create_on_database') THEN
            RAISE EXCEPTION 'pg-hardening: unknown privilege % asked by step %', need, p_step;
        END IF;
    END LOOP;
END
$fn$;

CREATE FUNCTION hardening.record(p_step text, p_kind text, p_target jsonb, p_prior jsonb DEFAULT NULL)
RETURNS void LANGUAGE sql AS $fn$
    INSERT INTO hardening.applied (step, kind, target, prior) VALUES (p_step, p_kind, p_target, p_prior);
$fn$;

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

CREATE FUNCTION hardening.ensure_extension(p_step text, p_extension text, p_schema text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Create the extension in p_schema unless it exists (an existing one is adopted, not moved).
DECLARE
    is_trusted boolean;
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = p_extension) THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = p_schema) THEN
        RAISE EXCEPTION 'pg-hardening: schema % for extension % does not exist', quote_ident(p_schema), p_extension
            USING ERRCODE = 'invalid_schema_name',
                  HINT = 'create the schema first or choose another with the setting ' || p_extension || '_schema';
    END IF;
    SELECT v.trusted INTO is_trusted
    FROM pg_available_extensions a
    JOIN pg_available_extension_versions v ON v.name = a.name AND v.version = a.default_version
    WHERE a.name = p_extension;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg-hardening: extension % is not installed on the server', p_extension
            USING ERRCODE = 'undefined_object',
                  HINT = 'install its package on the server (e.g. postgresql-NN-pgaudit, or contrib for pgcrypto)';
    END IF;
    PERFORM hardening.require(p_step, 'create_on_database');
    IF NOT has_schema_privilege(p_schema, 'CREATE') THEN
        RAISE EXCEPTION 'pg-hardening: step % needs the CREATE privilege on schema % for extension %',
            p_step, quote_ident(p_schema), p_extension
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT CREATE ON SCHEMA %I TO %I', p_schema, current_user);
    END IF;
    -- An untrusted extension needs a superuser, or a managed service's admin role where the
    -- provider allows it: the server decides, its refusal becomes the message.
    BEGIN
        EXECUTE format('CREATE EXTENSION %I SCHEMA %I', p_extension, p_schema);
    EXCEPTION WHEN insufficient_privilege THEN
        IF is_trusted THEN
            RAISE;
        END IF;
        RAISE EXCEPTION 'pg-hardening: step % needs extension %, and role % may not create it: % is not a trusted extension, so only a superuser can',
            p_step, p_extension, quote_ident(current_user), p_extension
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as a superuser (on a managed service: its admin role), in database %I: '
                                'CREATE EXTENSION %I SCHEMA %I; then run the upgrade again: the step adopts '
                                'it and downgrade keeps it. See docs/migrations.md for what else a '
                                'non-superuser needs', current_database(), p_extension, p_schema);
    END;
    PERFORM hardening.record(p_step, 'extension_created', jsonb_build_object('extension', p_extension));
END
$fn$;

CREATE FUNCTION hardening.set_extension_function_cost(p_step text, p_extension text,
                                                      p_functions text[], p_cost real)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Tell the planner what p_extension's functions named in p_functions really cost (every arity).
-- An expensive function in a SELECT list lets the planner decrypt a large table in parallel
-- workers, and evaluates cheaper conditions first. Functions the migrating role cannot alter
-- are left as they are, with one NOTICE per owner that names the owner and the statements to
-- run as it: a trusted extension created by a non-superuser (pgcrypto by the database owner)
-- still has functions owned by the bootstrap superuser, and an adopted one its creator's.
DECLARE
    f record;
    kept jsonb := '{}';  -- owner -> [{"fix": "ALTER FUNCTION ...", "cost": its cost now}, ...]
    o record;
BEGIN
    FOR f IN
        SELECT p.procost, pg_get_userbyid(p.proowner) AS owner,
               format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature,
               pg_has_role(p.proowner, 'USAGE') AS may_alter
        FROM pg_extension e
        JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
                        AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
        JOIN pg_proc p ON p.oid = d.objid
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE e.extname = p_extension AND p.proname = ANY (p_functions)
        ORDER BY signature
    LOOP
        IF f.procost = p_cost THEN
            CONTINUE;
        ELSIF NOT f.may_alter THEN
            kept := kept || jsonb_build_object(f.owner, coalesce(kept -> f.owner, '[]') || jsonb_build_array(
                jsonb_build_object('fix', format('ALTER FUNCTION %s COST %s', f.signature, p_cost),
                                   'cost', f.procost)));
            CONTINUE;
        END IF;
        EXECUTE format('ALTER FUNCTION %s COST %s', f.signature, p_cost);
        PERFORM hardening.record(p_step, 'function_cost', jsonb_build_object('function', f.signature),
                                 jsonb_build_object('cost', f.procost));
    END LOOP;
    FOR o IN SELECT key AS owner, value AS functions FROM jsonb_each(kept) ORDER BY key LOOP
        RAISE NOTICE 'pg-hardening: step % left the planner cost of % % functions at % (not %): they belong to role %, and role % may not alter them',
            p_step, jsonb_array_length(o.functions), p_extension,
            (SELECT string_agg(DISTINCT k ->> 'cost', ', ') FROM jsonb_array_elements(o.functions) k),
            p_cost, quote_ident(o.owner), quote_ident(current_user)
            USING HINT = format('as %I (or another superuser): %s; a downgrade does not undo these', o.owner,
                                (SELECT string_agg(k ->> 'fix', '; ') FROM jsonb_array_elements(o.functions) k));
    END LOOP;
END
$fn$;

CREATE FUNCTION hardening.setting_reference(p_setting text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    -- 'pgaudit.log' -> pgaudit.log, each part quoted as an identifier.
    SELECT string_agg(quote_ident(part), '.' ORDER BY n)
    FROM unnest(string_to_array(p_setting, '.')) WITH ORDINALITY AS p(part, n);
$fn$;

CREATE FUNCTION hardening.database_setting(p_setting text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT value FROM hardening.database_settings WHERE name = p_setting;
$fn$;

CREATE FUNCTION hardening.require_settable(p_step text, p_settings text[], p_values text[])
RETURNS void LANGUAGE plpgsql AS $fn$
-- Fail unless the current role may ALTER DATABASE <current> SET each p_settings[i] = p_values[i],
-- naming every parameter it may not set and the GRANT that fixes it. The server answers: each
-- ALTER DATABASE runs in a subtransaction that is rolled back. A superuser may set anything; a
-- non-superuser needs SET on each superuser-only parameter (GRANT SET ON PARAMETER, PostgreSQL
-- 15+), unless a managed service grants its admin role more.
DECLARE
    refused text[] := '{}';
    i int;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_settings, 1), 0) LOOP
        BEGIN
            EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(),
                           hardening.setting_reference(p_settings[i]), p_values[i]);
            RAISE EXCEPTION USING ERRCODE = 'PH000';  -- allowed: undo it with the block
        EXCEPTION
            WHEN SQLSTATE 'PH000' THEN
                NULL;
            WHEN insufficient_privilege THEN
                refused := refused || p_settings[i];
        END;
    END LOOP;
    IF refused <> '{}' THEN
        RAISE EXCEPTION 'pg-hardening: step % needs SUPERUSER or the SET privilege on parameters %, and role % has neither',
            p_step, array_to_string(refused, ', '), quote_ident(current_user)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as a superuser: GRANT SET ON PARAMETER %s TO %I (PostgreSQL 15+); '
                                'or run the step as a superuser. See docs/migrations.md for what a '
                                'non-superuser needs',
                                (SELECT string_agg(hardening.setting_reference(r), ', ') FROM unnest(refused) AS r),
                                current_user);
    END IF;
END
$fn$;

CREATE FUNCTION hardening.set_database_setting(p_step text, p_setting text, p_value text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- ALTER DATABASE <current> SET p_setting = p_value, remembering the previous database-level value.
DECLARE
    prior text := hardening.database_setting(p_setting);
BEGIN
    PERFORM hardening.require(p_step, 'database_owner');
    IF NOT EXISTS (SELECT FROM pg_settings WHERE name = p_setting) THEN
        RAISE EXCEPTION 'pg-hardening: the server has no parameter %', p_setting
            USING ERRCODE = 'undefined_object';
    END IF;
    BEGIN
        EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(),
                       hardening.setting_reference(p_setting), p_value);
    EXCEPTION WHEN insufficient_privilege THEN
        PERFORM hardening.require_settable(p_step, ARRAY[p_setting], ARRAY[p_value]);
        RAISE;  -- not a missing SET privilege: the server's own reason
    END;
    PERFORM hardening.record(p_step, 'database_setting', jsonb_build_object('setting', p_setting),
                             jsonb_build_object('value', prior));
END
$fn$;

CREATE FUNCTION hardening.kit_role_comment() RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    -- The comment (cluster-wide, like the role) that marks a role the kit created. Roles are
    -- shared by every database of the cluster, the records of hardening.applied are not: the
    -- mark lets another database's upgrade tell the kit's role from one that existed before.
    SELECT 'pg-hardening: created by the kit''s migrations; dropped by the downgrade that '
           'leaves no database using it'::text;
$fn$;

CREATE FUNCTION hardening.created_by_kit(p_role text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT shobj_description(oid, 'pg_authid') = hardening.kit_role_comment()
                     FROM pg_roles WHERE rolname = p_role), false);
$fn$;

CREATE FUNCTION hardening.ensure_role(p_step text, p_role text, p_setting text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Create a NOLOGIN role unless it exists, marked with hardening.kit_role_comment(). An existing
-- NOLOGIN role is adopted: one that existed before the kit is kept on downgrade as it was (and
-- never marked); one the kit created for another database that still uses it is recorded here
-- too, so that whichever database is downgraded last drops it (undo keeps a role something
-- still uses). A marked role no other database uses (its database was dropped, not
-- downgraded) was there before this database's upgrade: adopted and kept like any other.
DECLARE
    can_login boolean;
BEGIN
    SELECT rolcanlogin INTO can_login FROM pg_roles WHERE rolname = p_role;
    IF FOUND THEN
        IF can_login THEN
            RAISE EXCEPTION 'pg-hardening: role % exists and can log in; the kit''s roles must be NOLOGIN',
                quote_ident(p_role)
                USING ERRCODE = 'invalid_role_specification',
                      HINT = format('ALTER ROLE %I NOLOGIN, or choose another name with the setting %s',
                                    p_role, p_setting);
        END IF;
        IF hardening.created_by_kit(p_role) AND hardening.role_used_elsewhere(p_role) IS NOT NULL THEN
            PERFORM hardening.record(p_step, 'role_created',
                                     jsonb_build_object('role', p_role, 'shared', true));
        END IF;
        RETURN;
    END IF;
    PERFORM hardening.require(p_step, 'createrole');
    EXECUTE format('CREATE ROLE %I NOLOGIN', p_role);
    EXECUTE format('COMMENT ON ROLE %I IS %L', p_role, hardening.kit_role_comment());
    PERFORM hardening.record(p_step, 'role_created', jsonb_build_object('role', p_role));
END
$fn$;

CREATE FUNCTION hardening.role_used_elsewhere(p_role text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    -- The other databases (and 'the cluster', for a tablespace) whose objects, privileges
    -- (a database's own ACL and owner count for that database) or pgaudit.role need p_role;
    -- NULL when none does. A kit role with a membership another database's hardening relies on
    -- keeps that membership on this one's downgrade.
    SELECT string_agg(DISTINCT coalesce(quote_ident(db.datname), 'the cluster'), ', ')
    FROM (SELECT CASE WHEN d.classid = 'pg_database'::regclass THEN d.objid ELSE d.dbid END
          FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
          WHERE d.refclassid = 'pg_authid'::regclass AND r.rolname = p_role
          UNION
          SELECT s.setdatabase FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) c
          WHERE c = 'pgaudit.role=' || p_role) AS u(dbid)
    LEFT JOIN pg_database db ON db.oid = u.dbid
    WHERE u.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database());
$fn$;

CREATE FUNCTION hardening.role_in_use(p_role text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    -- Anything outside the kit's own records that would break or vanish with DROP ROLE:
    -- owned objects or privileges in any database, members or groups, role settings,
    -- another database's pgaudit.role.
    SELECT EXISTS (SELECT FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
                   WHERE d.refclassid = 'pg_authid'::regclass AND r.rolname = p_role)
        OR EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
                   WHERE r.rolname = p_role)
        OR EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                   WHERE r.rolname = p_role AND m.member <> (SELECT oid FROM pg_roles WHERE rolname = current_user))
        OR EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                   WHERE r.rolname = p_role)
        OR hardening.role_used_elsewhere(p_role) IS NOT NULL;
$fn$;

CREATE FUNCTION hardening.grant_role(p_step text, p_role text, p_member text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- GRANT p_role TO p_member unless p_member already has p_role's privileges. An adopted member
-- that does not inherit them (NOINHERIT, or a PostgreSQL 16+ grant WITH INHERIT FALSE) is refused:
-- the kit grants p_role for its privileges, and changing how the role inherits is the owner's call.
BEGIN
    IF pg_has_role(p_member, p_role, 'USAGE') THEN
        -- granted to a kit role by another database's upgrade: recorded here too, so that the
        -- last database's downgrade revokes it before dropping the role (see undo)
        IF hardening.created_by_kit(p_member) AND hardening.role_used_elsewhere(p_member) IS NOT NULL
           AND EXISTS (SELECT FROM pg_auth_members m
                       WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = p_role)
                         AND m.member = (SELECT oid FROM pg_roles WHERE rolname = p_member)) THEN
            PERFORM hardening.record(p_step, 'membership_granted',
                                     jsonb_build_object('role', p_role, 'member', p_member, 'shared', true));
        END IF;
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM pg_auth_members m
               WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = p_role)
                 AND m.member = (SELECT oid FROM pg_roles WHERE rolname = p_member))
       OR NOT (SELECT rolinherit FROM pg_roles WHERE rolname = p_member) THEN
        RAISE EXCEPTION 'pg-hardening: step % needs role % to inherit the privileges of %, and it does not',
            p_step, quote_ident(p_member), quote_ident(p_role)
            USING ERRCODE = 'invalid_grant_operation',
                  HINT = format('ALTER ROLE %I INHERIT; on PostgreSQL 16+ also GRANT %I TO %I WITH INHERIT TRUE; '
                                'or choose another role name for the kit', p_member, p_role, p_member);
    END IF;
    BEGIN
        EXECUTE format('GRANT %I TO %I', p_role, p_member);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'pg-hardening: step % grants role % and needs SUPERUSER or ADMIN OPTION on it',
            p_step, quote_ident(p_role)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as a superuser: GRANT %I TO %I WITH ADMIN OPTION', p_role, current_user);
    END;
    PERFORM hardening.record(p_step, 'membership_granted',
                             jsonb_build_object('role', p_role, 'member', p_member));
END
$fn$;

CREATE FUNCTION hardening.object_reference(p_type text, p_schema text, p_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    IF p_type = 'database' THEN
        RETURN format('DATABASE %I', current_database());
    ELSIF p_type = 'schema' THEN
        IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = p_schema) THEN
            RAISE EXCEPTION 'pg-hardening: schema % does not exist', quote_ident(p_schema)
                USING ERRCODE = 'invalid_schema_name';
        END IF;
        RETURN format('SCHEMA %I', p_schema);
    ELSIF p_type = 'table' THEN
        IF NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = p_schema AND c.relname = p_name) THEN
            RAISE EXCEPTION 'pg-hardening: table %.% does not exist', quote_ident(p_schema), quote_ident(p_name)
                USING ERRCODE = 'undefined_table',
                      HINT = 'create it before this step or remove it from the setting audit_tables';
        END IF;
        RETURN format('TABLE %I.%I', p_schema, p_name);
    END IF;
    RAISE EXCEPTION 'pg-hardening: unknown object type %', p_type;
END
$fn$;

CREATE FUNCTION hardening.holds(p_type text, p_schema text, p_name text, p_privilege text, p_grantee text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    -- Whether p_grantee ('PUBLIC' or a role) holds p_privilege directly in the object's ACL
    -- (a NULL ACL means the built-in default, e.g. TEMP and CONNECT for PUBLIC on a database).
    WITH acl AS (
        SELECT coalesce(datacl, acldefault('d', datdba)) AS acl FROM pg_database
        WHERE p_type = 'database' AND datname = current_database()
        UNION ALL
        SELECT coalesce(nspacl, acldefault('n', nspowner)) FROM pg_namespace
        WHERE p_type = 'schema' AND nspname = p_schema
        UNION ALL
        SELECT coalesce(c.relacl, acldefault('r', c.relowner)) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p_type = 'table' AND n.nspname = p_schema AND c.relname = p_name
    )
    SELECT EXISTS (
        SELECT FROM acl CROSS JOIN LATERAL aclexplode(acl.acl) a
        WHERE a.privilege_type = p_privilege
          AND a.grantee = CASE WHEN p_grantee = 'PUBLIC' THEN 0::oid
                               ELSE (SELECT oid FROM pg_roles WHERE rolname = p_grantee) END);
$fn$;

CREATE FUNCTION hardening.privilege_keyword(p_privilege text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    IF p_privilege IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                       'TRIGGER', 'USAGE', 'CREATE', 'CONNECT', 'TEMPORARY') THEN
        RETURN p_privilege;
    END IF;
    RAISE EXCEPTION 'pg-hardening: % is not a privilege', quote_literal(p_privilege)
        USING HINT = 'use SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, USAGE, CREATE, CONNECT or TEMPORARY';
END
$fn$;

CREATE FUNCTION hardening.grantee_reference(p_grantee text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN p_grantee = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(p_grantee) END;
$fn$;

CREATE FUNCTION hardening.object_owner(p_type text, p_schema text, p_name text) RETURNS name
LANGUAGE sql STABLE AS $fn$
    SELECT pg_get_userbyid(CASE p_type
        WHEN 'database' THEN (SELECT datdba FROM pg_database WHERE datname = current_database())
        WHEN 'schema' THEN (SELECT nspowner FROM pg_namespace WHERE nspname = p_schema)
        WHEN 'table' THEN (SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = p_schema AND c.relname = p_name)
    END);
$fn$;

CREATE FUNCTION hardening.may_grant(p_type text, p_schema text, p_name text, p_privilege text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    -- Whether the current role may grant p_privilege on the object: it is a superuser, owns the
    -- object (or belongs to its owner), or holds the privilege WITH GRANT OPTION.
    SELECT CASE p_type
        WHEN 'database' THEN has_database_privilege(current_database(), p_privilege || ' WITH GRANT OPTION')
        WHEN 'schema' THEN has_schema_privilege(p_schema, p_privilege || ' WITH GRANT OPTION')
        WHEN 'table' THEN has_table_privilege(format('%I.%I', p_schema, p_name), p_privilege || ' WITH GRANT OPTION')
    END;
$fn$;

CREATE FUNCTION hardening.grant_privilege(p_step text, p_type text, p_schema text, p_name text,
                                          p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- GRANT unless already held directly; fail (and roll back) if the GRANT had no effect.
DECLARE
    ref text := hardening.object_reference(p_type, p_schema, p_name);
    priv text := hardening.privilege_keyword(p_privilege);
BEGIN
    IF hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RETURN;
    END IF;
    IF hardening.may_grant(p_type, p_schema, p_name, priv) THEN
        EXECUTE format('GRANT %s ON %s TO %s', priv, ref, hardening.grantee_reference(p_grantee));
    END IF;
    IF NOT hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RAISE EXCEPTION 'pg-hardening: step % could not grant % on % to %: role % neither owns it nor holds % on it WITH GRANT OPTION',
            p_step, priv, ref, p_grantee, quote_ident(current_user), priv
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as its owner %I (or a superuser): GRANT %s ON %s TO %I WITH GRANT OPTION; '
                                'or run the step as the owner or a superuser',
                                hardening.object_owner(p_type, p_schema, p_name), priv, ref, current_user)
                         || CASE WHEN p_type = 'table' THEN '; or leave the table out of the setting audit_tables' ELSE '' END;
    END IF;
    PERFORM hardening.record(p_step, 'privilege_granted',
        jsonb_build_object('type', p_type, 'schema', p_schema, 'name', p_name,
                           'privilege', priv, 'grantee', p_grantee));
END
$fn$;

CREATE FUNCTION hardening.revoke_privilege(p_step text, p_type text, p_schema text, p_name text,
                                           p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- REVOKE if held directly; fail (and roll back) if the REVOKE had no effect.
DECLARE
    ref text := hardening.object_reference(p_type, p_schema, p_name);
    priv text := hardening.privilege_keyword(p_privilege);
BEGIN
    IF NOT hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RETURN;
    END IF;
    EXECUTE format('REVOKE %s ON %s FROM %s', priv, ref, hardening.grantee_reference(p_grantee));
    IF hardening.holds(p_type, p_schema, p_name, priv, p_grantee) THEN
        RAISE EXCEPTION 'pg-hardening: step % could not revoke % on % from %: role % does not own it',
            p_step, priv, ref, p_grantee, quote_ident(current_user)
            USING ERRCODE = 'insufficient_privilege', HINT = 'run the step as the owner or a superuser';
    END IF;
    PERFORM hardening.record(p_step, 'privilege_revoked',
        jsonb_build_object('type', p_type, 'schema', p_schema, 'name', p_name,
                           'privilege', priv, 'grantee', p_grantee));
END
$fn$;

CREATE FUNCTION hardening.holds_default(p_owner text, p_schema text, p_objects text,
                                        p_privilege text, p_grantee text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    SELECT EXISTS (
        SELECT FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
        WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = p_owner)
          AND d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = p_schema)
          AND d.defaclobjtype = CASE p_objects WHEN 'TABLES' THEN 'r' WHEN 'SEQUENCES' THEN 'S' END
          AND a.privilege_type = p_privilege
          AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = p_grantee));
$fn$;

CREATE FUNCTION hardening.grant_default_privilege(p_step text, p_owner text, p_schema text,
                                                  p_objects text, p_privilege text, p_grantee text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- ALTER DEFAULT PRIVILEGES FOR ROLE p_owner IN SCHEMA p_schema GRANT ... (future objects).
-- An empty p_owner means the migrating role.
DECLARE
    priv text := hardening.privilege_keyword(p_privilege);
    owner_role text := coalesce(nullif(p_owner, ''), current_user);
BEGIN
    IF p_objects NOT IN ('TABLES', 'SEQUENCES') THEN
        RAISE EXCEPTION 'pg-hardening: default privileges on % are not supported', p_objects;
    END IF;
    PERFORM hardening.object_reference('schema', p_schema, NULL);
    IF hardening.holds_default(owner_role, p_schema, p_objects, priv, p_grantee) THEN
        RETURN;
    END IF;
    IF NOT pg_has_role(current_user, owner_role, 'MEMBER') THEN
        RAISE EXCEPTION 'pg-hardening: step % sets default privileges for role % and role % is not a member of it',
            p_step, quote_ident(owner_role), quote_ident(current_user)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT %I TO %I, or set table_owner_role to a role you belong to', owner_role, current_user);
    END IF;
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT %s ON %s TO %I',
                   owner_role, p_schema, priv, p_objects, p_grantee);
    PERFORM hardening.record(p_step, 'default_privilege_granted',
        jsonb_build_object('owner', owner_role, 'schema', p_schema, 'objects', p_objects,
                           'privilege', priv, 'grantee', p_grantee));
END
$fn$;

CREATE FUNCTION hardening.check_system_setting(p_step text, p_setting text, p_value text,
                                               p_from text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Fail unless the server would take p_value for p_setting in ALTER SYSTEM, before anything is
-- committed: ALTER SYSTEM runs outside the transaction, one setting at a time, so a value it
-- refuses there would leave the others applied. p_from names the kit setting the value came
-- from ('' for the profile's fixed values). Enum values are checked against pg_settings.enumvals
-- and booleans parsed; a parameter this session may SET is also set (and rolled back) so the
-- server parses it with its own checks.
DECLARE
    s pg_settings%ROWTYPE;
    subject text := CASE WHEN p_from = '' THEN format('the value %L for %s', p_value, p_setting)
                         ELSE format('setting %s is %L; %s', p_from, p_value, p_setting) END;
    fix text := CASE WHEN p_from = '' THEN 'report this as a pg-hardening bug'
                     ELSE format('pass -x %s=... with a value from the list', p_from) END;
BEGIN
    SELECT * INTO s FROM pg_settings WHERE name = p_setting;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg-hardening: step % sets parameter % and this server has no such parameter',
            p_step, p_setting
            USING ERRCODE = 'undefined_object';
    END IF;
    IF p_value ~ '[\n\r]' THEN
        RAISE EXCEPTION 'pg-hardening: step %: % must be one line (ALTER SYSTEM refuses line breaks)',
            p_step, CASE WHEN p_from = '' THEN p_setting ELSE 'setting ' || p_from END
            USING ERRCODE = 'invalid_parameter_value', HINT = 'nothing was changed';
    END IF;
    IF s.vartype = 'enum'
       AND NOT EXISTS (SELECT FROM unnest(s.enumvals) AS v WHERE lower(v) = lower(p_value)) THEN
        RAISE EXCEPTION 'pg-hardening: step %: % expects one of %',
            p_step, subject, array_to_string(s.enumvals, ', ')
            USING ERRCODE = 'invalid_parameter_value', HINT = fix || '; nothing was changed';
    ELSIF s.vartype = 'bool' THEN
        BEGIN
            PERFORM p_value::boolean;
        EXCEPTION WHEN invalid_text_representation THEN
            RAISE EXCEPTION 'pg-hardening: step %: % expects on or off', p_step, subject
                USING ERRCODE = 'invalid_parameter_value', HINT = fix || '; nothing was changed';
        END;
    END IF;
    IF s.context IN ('user', 'superuser') THEN
        BEGIN
            PERFORM set_config(p_setting, p_value, true);
            RAISE EXCEPTION USING ERRCODE = 'PH000';  -- parsed: undo the SET with the block
        EXCEPTION
            WHEN SQLSTATE 'PH000' THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE;
            WHEN OTHERS THEN
                RAISE EXCEPTION 'pg-hardening: step %: % is refused by the server: %', p_step, subject, SQLERRM
                    USING ERRCODE = 'invalid_parameter_value', HINT = fix || '; nothing was changed';
        END;
    END IF;
END
$fn$;

CREATE FUNCTION hardening.record_system_setting(p_step text, p_setting text) RETURNS void
LANGUAGE sql AS $fn$
    -- Remember p_setting's ALTER SYSTEM value (postgresql.auto.conf) before the profile sets it.
    -- A record p_step kept from an interrupted earlier run already holds the value from before
    -- that run: it is not recorded again.
    SELECT hardening.record(p_step, 'system_setting', jsonb_build_object('setting', p_setting),
        jsonb_build_object('value', (SELECT setting FROM pg_file_settings
                                     WHERE name = p_setting AND sourcefile LIKE '%postgresql.auto.conf'
                                     ORDER BY seqno DESC LIMIT 1)))
    WHERE NOT EXISTS (SELECT FROM hardening.applied
                      WHERE step = p_step AND kind = 'system_setting' AND target->>'setting' = p_setting);
$fn$;

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

-- The kit's functions, listed once: the REVOKE below and the downgrade (state_down.sql) both
-- read this list, so other functions of an adopted hardening schema keep their ACLs.
CREATE FUNCTION hardening.kit_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE AS $fn$
    SELECT ARRAY[
        'hardening.undo(text)',
        'hardening.grant_default_privilege(text, text, text, text, text, text)',
        'hardening.holds_default(text, text, text, text, text)',
        'hardening.revoke_privilege(text, text, text, text, text, text)',
        'hardening.grant_privilege(text, text, text, text, text, text)',
        'hardening.may_grant(text, text, text, text)',
        'hardening.object_owner(text, text, text)',
        'hardening.grantee_reference(text)',
        'hardening.privilege_keyword(text)',
        'hardening.holds(text, text, text, text, text)',
        'hardening.object_reference(text, text, text)',
        'hardening.grant_role(text, text, text)',
        'hardening.role_in_use(text)',
        'hardening.role_used_elsewhere(text)',
        'hardening.ensure_role(text, text, text)',
        'hardening.created_by_kit(text)',
        'hardening.kit_role_comment()',
        'hardening.set_database_setting(text, text, text)',
        'hardening.require_settable(text, text[], text[])',
        'hardening.database_setting(text)',
        'hardening.setting_reference(text)',
        'hardening.set_extension_function_cost(text, text, text[], real)',
        'hardening.ensure_extension(text, text, text)',
        'hardening.require_pgaudit_loaded(text)',
        'hardening.record(text, text, jsonb, jsonb)',
        'hardening.require(text, text)',
        'hardening.record_system_setting(text, text)',
        'hardening.check_system_setting(text, text, text, text)',
        'hardening.owner_only(regclass)',
        'hardening.kit_functions()'
    ]::regprocedure[];
$fn$;

DO $revoke$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY hardening.kit_functions() LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$revoke$;
