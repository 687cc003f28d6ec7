-- pg-hardening step h010_auto_explain: the database's auto_explain parameters, each one this
-- server's auto_explain has (the i-th "since" is the server_version_num that brought the i-th
-- name). Unlike hardening.set_database_setting this also sets a placeholder (auto_explain not
-- loaded: pg_settings does not list its parameters yet); the SET privilege on each is checked
-- first, naming every one missing. The step, names, values and versions arrive as literals.
DO $auto_explain$
DECLARE
    names text[] := '{}';
    vals text[] := '{}';
    prior text;
    i int;
BEGIN
    FOR i IN 1 .. cardinality(CAST(:names AS text[])) LOOP
        IF current_setting('server_version_num')::int >= (CAST(:since AS int[]))[i] THEN
            names := names || (CAST(:names AS text[]))[i];
            vals := vals || (CAST(:vals AS text[]))[i];
        END IF;
    END LOOP;
    PERFORM hardening.require_settable(:step, names, vals);
    FOR i IN 1 .. cardinality(names) LOOP
        prior := hardening.database_setting(names[i]);
        EXECUTE format('ALTER DATABASE %I SET %s = %L', current_database(),
                       hardening.setting_reference(names[i]), vals[i]);
        PERFORM hardening.record(:step, 'database_setting', jsonb_build_object('setting', names[i]),
                                 jsonb_build_object('value', prior));
    END LOOP;
END
$auto_explain$
