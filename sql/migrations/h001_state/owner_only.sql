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
