-- The kit's functions, listed once: revoke_public.sql and the downgrade (downgrade.sql) both
-- read this list, so other functions of an adopted hardening schema keep their ACLs.
CREATE FUNCTION hardening.kit_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE AS $fn$
    SELECT ARRAY[
        'hardening.undo(text)',
        'hardening.grant_default_privilege(text, text, text, text, text, text)',
        'hardening.holds_default(text, text, text, text, text)',
        'hardening.revoke_privilege(text, text, text, text, text, text)',
        'hardening.grant_privilege(text, text, text, text, text, text)',
        'hardening.may_grant(text, text, text, text)',
        'hardening.object_owner(text, text, text)',
        'hardening.grantee_reference(text)',
        'hardening.privilege_keyword(text)',
        'hardening.holds(text, text, text, text, text)',
        'hardening.object_reference(text, text, text)',
        'hardening.grant_role(text, text, text)',
        'hardening.role_in_use(text)',
        'hardening.role_used_elsewhere(text)',
        'hardening.ensure_role(text, text, text)',
        'hardening.created_by_kit(text)',
        'hardening.kit_role_comment()',
        'hardening.set_database_setting(text, text, text)',
        'hardening.require_settable(text, text[], text[])',
        'hardening.database_setting(text)',
        'hardening.setting_reference(text)',
        'hardening.set_extension_function_cost(text, text, text[], real)',
        'hardening.ensure_extension(text, text, text)',
        'hardening.require_pgaudit_loaded(text)',
        'hardening.record(text, text, jsonb, jsonb)',
        'hardening.require(text, text)',
        'hardening.record_system_setting(text, text)',
        'hardening.check_system_setting(text, text, text, text)',
        'hardening.owner_only(regclass)',
        'hardening.kit_functions()'
    ]::regprocedure[];
$fn$;
