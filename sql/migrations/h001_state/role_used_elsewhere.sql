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
