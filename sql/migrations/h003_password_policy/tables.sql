-- pg-hardening: the password policy that hardening.passwords (Python) enforces before it
-- hashes a password with SCRAM on the client, and the reuse history it checks.
-- One row of policy; SQL reads it as hardening.password_policy, Python through passwords.py.
CREATE TABLE hardening.password_policy (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_length         integer NOT NULL CHECK (min_length >= 8),
    max_age_days       integer NOT NULL CHECK (max_age_days >= 0),  -- 0: no VALID UNTIL
    history_depth      integer NOT NULL CHECK (history_depth >= 0),  -- 0: reuse not checked
    min_strength       integer NOT NULL CHECK (min_strength BETWEEN 0 AND 4),  -- zxcvbn score
    forbid_role_name   boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hardening.password_policy IS
    'pg-hardening: password rules enforced on the client by hardening.passwords / hardening passwd';

-- Reuse history: salted scrypt digests, optionally keyed with HARDENING_PASSWORD_PEPPER.
-- Never the plaintext, never the SCRAM verifier.
CREATE TABLE hardening.password_history (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rolname   name NOT NULL,
    salt      bytea NOT NULL,
    digest    bytea NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT now(),
    set_by    name NOT NULL DEFAULT current_user
);
CREATE INDEX password_history_rolname ON hardening.password_history (rolname, set_at DESC);
COMMENT ON TABLE hardening.password_history IS
    'pg-hardening: keyed scrypt digests of previous passwords (for the reuse check), never plaintext';

-- Only the owner: default privileges of the migrating role must not expose the history.
-- The step then grants password_admin_role exactly what hardening.passwords needs.
SELECT hardening.owner_only(r)
FROM unnest(ARRAY['hardening.password_policy', 'hardening.password_history',
                  'hardening.password_history_id_seq']::regclass[]) AS r;
