-- Only the owner may read or write the kit's records (hardening.owner_only).
SELECT hardening.owner_only(r)
FROM unnest(ARRAY['hardening.applied', 'hardening.applied_seq_seq',
                  'hardening.database_settings']::regclass[]) AS r;
