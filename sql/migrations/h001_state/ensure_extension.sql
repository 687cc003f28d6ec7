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
