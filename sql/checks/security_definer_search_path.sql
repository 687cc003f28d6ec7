-- SECURITY DEFINER functions outside the system schemas whose search_path is not
-- safely pinned: no search_path setting; a path without pg_temp as its last entry (pg_temp
-- is otherwise searched first); or a schema on the path where PUBLIC, or a non-superuser
-- other than the function's owner, can create objects (it owns the schema or holds CREATE).
-- The schemas owned by, or granted to, pg_database_owner count as the database owner's.
-- Functions an extension installs are left out: its scripts, not you, set their search_path.
-- One row per function, with every problem found.
WITH definers AS (
    SELECT p.oid, p.proowner,
           (SELECT substr(c, length('search_path=') + 1)
            FROM unnest(p.proconfig) AS c
            WHERE c LIKE 'search\_path=%') AS search_path
    FROM pg_proc AS p
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE p.prosecdef
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND NOT EXISTS (  -- an extension's own functions: ALTER EXTENSION, not you, sets them
          SELECT 1 FROM pg_depend AS dep
          WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e'
      )
), entries AS (
    -- the path's schema names, unquoted ("$user" is the owner: definer functions run as it)
    SELECT d.oid, e.ord,
           CASE WHEN name = '$user' THEN pg_get_userbyid(d.proowner) ELSE name END AS schema
    FROM definers AS d
    CROSS JOIN LATERAL regexp_matches(d.search_path, '"(?:[^"]|"")*"|[^,\s][^,]*', 'g')
         WITH ORDINALITY AS e(m, ord)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN btrim(e.m[1]) ~ '^".*"$'
                    THEN replace(substr(btrim(e.m[1]), 2, length(btrim(e.m[1])) - 2), '""', '"')
                    ELSE btrim(e.m[1]) END AS name
    ) AS u
    WHERE u.name <> ''
), db_owner AS (
    SELECT datdba FROM pg_database WHERE datname = current_database()
), writers AS (
    -- who may create objects in each schema: its owner and its CREATE grantees (0: PUBLIC)
    SELECT n.nspname, n.nspowner AS writer, 'owns' AS how
    FROM pg_namespace AS n
    UNION ALL
    SELECT n.nspname, a.grantee, 'has CREATE on'
    FROM pg_namespace AS n
    CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS a
    WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner
), problems AS (
    SELECT d.oid, 0 AS ord, 'no search_path set' AS problem
    FROM definers AS d
    WHERE d.search_path IS NULL
    UNION ALL
    SELECT d.oid, 1, 'pg_temp is not the last entry (it is searched first)'
    FROM definers AS d
    WHERE d.search_path IS NOT NULL
      AND (SELECT e.schema FROM entries AS e WHERE e.oid = d.oid ORDER BY e.ord DESC LIMIT 1)
          IS DISTINCT FROM 'pg_temp'
    UNION ALL
    SELECT DISTINCT e.oid, 1 + e.ord,
           CASE WHEN w.writer = 0 THEN 'PUBLIC'
                ELSE pg_get_userbyid(w.writer) END || ' ' || w.how || ' schema ' || e.schema
    FROM entries AS e
    JOIN definers AS d ON d.oid = e.oid
    JOIN writers AS w ON w.nspname = e.schema
    CROSS JOIN db_owner
    CROSS JOIN LATERAL (
        SELECT CASE WHEN w.writer = 'pg_database_owner'::regrole THEN db_owner.datdba
                    ELSE w.writer END AS role_oid
    ) AS eff
    WHERE w.writer = 0
       OR (eff.role_oid <> d.proowner
           AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = eff.role_oid))
)
SELECT d.oid::regprocedure::text AS function, pg_get_userbyid(d.proowner) AS owner,
       string_agg(p.problem, '; ' ORDER BY p.ord, p.problem) AS problem
FROM definers AS d
JOIN problems AS p ON p.oid = d.oid
GROUP BY d.oid, d.proowner
ORDER BY 1;
