-- Untrusted procedural languages installed in this database (internal and c excluded).
-- One row per language.
SELECT lanname AS language, pg_get_userbyid(lanowner) AS owner
FROM pg_language
WHERE NOT lanpltrusted
  AND lanname NOT IN ('internal', 'c')
ORDER BY lanname;
