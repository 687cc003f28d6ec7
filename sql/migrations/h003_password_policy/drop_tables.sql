-- pg-hardening: remove the password policy and its reuse history (downgrade).
DROP TABLE hardening.password_history;
DROP TABLE hardening.password_policy;
