-- Tables with row security policies while row level security is not enabled on
-- them: the policies have no effect.
-- One row per table, with the number of its policies.
SELECT c.oid::regclass::text AS "table", pg_get_userbyid(c.relowner) AS owner,
       count(*) AS policies
FROM pg_policy AS pol
JOIN pg_class AS c ON c.oid = pol.polrelid
WHERE NOT c.relrowsecurity
GROUP BY c.oid, c.relowner
ORDER BY 1;
