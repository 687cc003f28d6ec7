CREATE FUNCTION hardening.kit_role_comment() RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    -- The comment (cluster-wide, like the role) that marks a role the kit created. Roles are
    -- shared by every database of the cluster, the records of hardening.applied are not: the
    -- mark lets another database's upgrade tell the kit's role from one that existed before.
    SELECT 'pg-hardening: created by the kit''s migrations; dropped by the downgrade that '
           'leaves no database using it'::text;
$fn$;
