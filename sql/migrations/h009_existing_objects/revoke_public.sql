-- No EXECUTE for PUBLIC on the step's functions: only the roles running migrations call them.
REVOKE ALL ON FUNCTION hardening.default_privilege_objects(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hardening.grant_existing(text, text) FROM PUBLIC;
