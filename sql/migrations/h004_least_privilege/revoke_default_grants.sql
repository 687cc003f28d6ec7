-- pg-hardening: the first half of h004_least_privilege's downgrade, added after its release.
-- Its default privileges gave the group roles privileges on every table, view and sequence
-- the owner created in the schema since; undoing the default privileges leaves those grants,
-- and a role holding them cannot be dropped (DROP ROLE: "privileges for table ..."). So the
-- roles this step created lose exactly those privileges first: on the relations of the
-- default privileges' owner, schema and kind, unless a revision recorded granting it (its
-- own downgrade revokes it). A role that existed before the kit (adopted) keeps what it has.
DO $revoke$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT n.nspname, c.relname, d.target->>'privilege' AS privilege, d.target->>'grantee' AS grantee
        FROM hardening.applied d
        JOIN pg_namespace n ON n.nspname = d.target->>'schema'
        JOIN pg_class c ON c.relnamespace = n.oid
        JOIN pg_roles o ON o.oid = c.relowner AND o.rolname = d.target->>'owner'
        WHERE d.step = 'h004_least_privilege' AND d.kind = 'default_privilege_granted'
          AND c.relkind = ANY (CASE d.target->>'objects' WHEN 'SEQUENCES' THEN '{S}'
                               ELSE '{r,p,f,v,m}' END::"char"[])
          AND EXISTS (SELECT FROM hardening.applied k
                      WHERE k.step = d.step AND k.kind = 'role_created'
                        AND k.target->>'role' = d.target->>'grantee')
          AND hardening.holds('table', n.nspname, c.relname, d.target->>'privilege', d.target->>'grantee')
          AND NOT EXISTS (SELECT FROM hardening.applied g
                          WHERE g.kind = 'privilege_granted' AND g.target->>'type' = 'table'
                            AND g.target->>'schema' = n.nspname AND g.target->>'name' = c.relname
                            AND g.target->>'privilege' = d.target->>'privilege'
                            AND g.target->>'grantee' = d.target->>'grantee')
    LOOP
        EXECUTE format('REVOKE %s ON TABLE %I.%I FROM %I',
                       hardening.privilege_keyword(r.privilege), r.nspname, r.relname, r.grantee);
    END LOOP;
END
$revoke$;
