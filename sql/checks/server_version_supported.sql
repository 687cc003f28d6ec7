-- The server's major release is still supported: the PostgreSQL project's final release of
-- each major version (https://www.postgresql.org/support/versioning/) is later than today, or
-- than %(as_of)s when the control binds a date (empty: today). A major release missing from
-- the table is newer than it, so supported.
-- One row: ok (boolean), observed (text).
WITH eol(major, last_release) AS (
    VALUES (12, date '2024-11-21'), (13, date '2025-11-13'), (14, date '2026-11-12'),
           (15, date '2027-11-11'), (16, date '2028-11-09'), (17, date '2029-11-08'),
           (18, date '2030-11-14')
), v AS (
    SELECT current_setting('server_version_num')::int / 10000 AS major,
           current_setting('server_version') AS version,
           coalesce(nullif(%(as_of)s, '')::date, current_date) AS as_of
)
SELECT v.major > 11 AND coalesce(e.last_release > v.as_of, v.major > 18) AS ok,
       format('PostgreSQL %%s: %%s', v.version,
              CASE WHEN e.last_release IS NULL AND v.major <= 11 THEN 'no longer supported'
                   WHEN e.last_release IS NULL THEN 'supported'
                   WHEN e.last_release > v.as_of
                        THEN 'supported until ' || e.last_release
                   ELSE 'support ended ' || e.last_release END) AS observed
FROM v
LEFT JOIN eol AS e ON e.major = v.major;
