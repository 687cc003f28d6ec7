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
