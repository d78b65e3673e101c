-- The event log is a hash chain, append-only.
CREATE TRIGGER colcrypt_chain BEFORE INSERT ON colcrypt.migration_events
FOR EACH ROW EXECUTE FUNCTION colcrypt._chain_event();

CREATE TRIGGER colcrypt_append_only BEFORE UPDATE OR DELETE ON colcrypt.migration_events
FOR EACH ROW EXECUTE FUNCTION colcrypt._refuse_event_change();
CREATE TRIGGER colcrypt_no_truncate BEFORE TRUNCATE ON colcrypt.migration_events
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._refuse_event_change();
