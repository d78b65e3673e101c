-- As sql/security.sql leaves them in a fresh install: the new functions are the owner's alone.
REVOKE ALL ON FUNCTION
colcrypt._event_hash(colcrypt.migration_events),
colcrypt._chain_event(),
colcrypt._refuse_event_change(),
colcrypt.verify_audit(),
colcrypt._log_key_event(),
colcrypt._keyring_changed()
FROM public;

-- 0.1.0 left its procedures executable by public (REVOKE ... ON ALL FUNCTIONS does not cover them).
REVOKE ALL ON PROCEDURE
colcrypt.backfill(text, integer, interval, interval, integer, integer, interval, interval),
colcrypt.reencrypt(text, integer, interval, interval)
FROM public;
