-- The hash chain's columns, appended as a fresh install has them.
ALTER TABLE colcrypt.migration_events
ADD COLUMN prev_event_id bigint,
ADD COLUMN prev_hash bytea,
ADD COLUMN row_hash bytea;

COMMENT ON TABLE colcrypt.migration_events IS
'Append-only log of migration steps: who, when, what, outcome and details; a hash chain (each row''s hash '
'covers its content and the previous row''s hash) that colcrypt.verify_audit() checks, so that an edited, '
'removed or inserted row shows.';
