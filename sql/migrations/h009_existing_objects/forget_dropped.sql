-- pg-hardening: before h009_existing_objects is undone, forget its grants on relations that
-- were dropped since (an application's downgrade may drop its tables first): their privileges
-- went with them, and there is nothing to revoke.
DELETE FROM hardening.applied a
WHERE a.step = 'h009_existing_objects' AND a.kind = 'privilege_granted'
  AND NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = a.target->>'schema' AND c.relname = a.target->>'name');
