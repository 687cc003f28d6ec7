-- hardening audit --url: how the server writes its log, to read it back. Any role may read
-- these settings.
SELECT current_setting('log_line_prefix') AS log_line_prefix,
       current_setting('log_destination') AS log_destination
