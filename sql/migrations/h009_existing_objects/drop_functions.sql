-- pg-hardening: the functions h009_existing_objects created (downgrade, after its records).
DROP FUNCTION hardening.grant_existing(text, text);
DROP FUNCTION hardening.default_privilege_objects(text);
