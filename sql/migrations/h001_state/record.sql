CREATE FUNCTION hardening.record(p_step text, p_kind text, p_target jsonb, p_prior jsonb DEFAULT NULL)
RETURNS void LANGUAGE sql AS $fn$
    INSERT INTO hardening.applied (step, kind, target, prior) VALUES (p_step, p_kind, p_target, p_prior);
$fn$;
