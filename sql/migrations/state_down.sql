-- pg-hardening: remove the kit's state schema (downgrade of h001_state). The schema itself
-- is dropped only if h001_state created it; anything else left in it keeps it (and fails).
DO $state$
DECLARE
    created boolean := EXISTS (SELECT FROM hardening.applied WHERE kind = 'schema_created');
    leftover text;
BEGIN
    SELECT string_agg(DISTINCT step, ', ') INTO leftover FROM hardening.applied WHERE step <> 'h001_state';
    IF leftover IS NOT NULL THEN
        RAISE EXCEPTION 'pg-hardening: hardening.applied still records changes of steps %; downgrade those first', leftover;
    END IF;
    DROP FUNCTION hardening.undo(text), hardening.grant_default_privilege(text, text, text, text, text, text),
        hardening.holds_default(text, text, text, text, text),
        hardening.revoke_privilege(text, text, text, text, text, text),
        hardening.grant_privilege(text, text, text, text, text, text),
        hardening.grantee_reference(text), hardening.privilege_keyword(text),
        hardening.holds(text, text, text, text, text), hardening.object_reference(text, text, text),
        hardening.grant_role(text, text, text), hardening.role_in_use(text),
        hardening.ensure_role(text, text, text), hardening.set_database_setting(text, text, text),
        hardening.database_setting(text), hardening.setting_reference(text),
        hardening.ensure_extension(text, text, text), hardening.require_pgaudit_loaded(text),
        hardening.record(text, text, jsonb, jsonb), hardening.require(text, text),
        hardening.record_system_setting(text, text),
        hardening.owner_only(regclass);
    DROP VIEW hardening.database_settings;
    DROP TABLE hardening.applied;
    IF created THEN
        DROP SCHEMA hardening;
    END IF;
END
$state$;
