CREATE FUNCTION hardening.grant_existing(p_step text, p_defaults_step text)
RETURNS void LANGUAGE plpgsql AS $fn$
-- Grant on the relations that exist now what the default privileges recorded by
-- p_defaults_step give those created later (default_privilege_objects), unless the grantee
-- holds it directly already; record each grant for undo. Whichever comes first, the
-- application's tables or the kit's default privileges, the group roles end up with the same
-- privileges. Fails (and rolls back) on a privilege the migrating role may not grant.
DECLARE
    o record;
    ref text;
    priv text;
    may_grant boolean;
BEGIN
    FOR o IN SELECT * FROM hardening.default_privilege_objects(p_defaults_step) LOOP
        CONTINUE WHEN hardening.holds('table', o.schema_name, o.object_name, o.privilege, o.grantee);
        ref := format('%I.%I', o.schema_name, o.object_name);
        priv := hardening.privilege_keyword(o.privilege);
        may_grant := CASE WHEN o.relkind = 'S'  -- has_table_privilege knows no USAGE
                          THEN has_sequence_privilege(ref, priv || ' WITH GRANT OPTION')
                          ELSE has_table_privilege(ref, priv || ' WITH GRANT OPTION') END;
        IF may_grant THEN
            EXECUTE format('GRANT %s ON TABLE %s TO %I', priv, ref, o.grantee);
        END IF;
        IF NOT hardening.holds('table', o.schema_name, o.object_name, priv, o.grantee) THEN
            RAISE EXCEPTION 'pg-hardening: step % could not grant % on % to %: role % neither owns it nor holds % on it WITH GRANT OPTION',
                p_step, priv, ref, quote_ident(o.grantee), quote_ident(current_user), priv
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('run the upgrade as its owner %I, a role that inherits its privileges, or a superuser; '
                                    'or pass -x grant_existing=off and grant on the existing objects yourself; nothing was changed',
                                    hardening.object_owner('table', o.schema_name, o.object_name));
        END IF;
        PERFORM hardening.record(p_step, 'privilege_granted',
            jsonb_build_object('type', 'table', 'schema', o.schema_name, 'name', o.object_name,
                               'privilege', priv, 'grantee', o.grantee));
    END LOOP;
END
$fn$;
