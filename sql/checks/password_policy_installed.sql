-- The kit's password policy table (step h003_password_policy) exists and holds a policy.
-- One row: ok (boolean), observed (text).
WITH t AS (
    SELECT to_regclass('hardening.password_policy') AS oid
), policy AS (
    SELECT t.oid,
           CASE WHEN t.oid IS NOT NULL THEN
               (xpath('/row/n/text()',
                      query_to_xml('SELECT count(*) AS n FROM hardening.password_policy',
                                   false, true, '')))[1]::text::int
           END AS rows
    FROM t
)
SELECT coalesce(rows > 0, false) AS ok,
       CASE WHEN oid IS NULL THEN 'hardening.password_policy does not exist'
            ELSE format('hardening.password_policy holds %s row(s)', rows) END AS observed
FROM policy;
