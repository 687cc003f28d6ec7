-- hardening.audit.instrument: sent before a statement whose connection's application_name
-- (as the server last reported it) differs from the one the running actor wants. The value,
-- '<application> actor=<encoded actor>', is rendered by psycopg.sql.Literal; the encoded
-- actor holds only A-Z a-z 0-9 . _ : - ~ and %XX escapes. Session-level on purpose: it lasts
-- while the actor does and is not sent again; a rollback that undoes it is reported by the
-- server and makes the next statement send it again. Never prepared (prepare=False).
SET application_name = {}
