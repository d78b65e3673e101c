-- Every change of the keyring and of the grants is logged, and reaches running sessions.
CREATE TRIGGER colcrypt_log_key_event
AFTER DELETE OR UPDATE OF state, provider, kek_ref, wrapped_key ON colcrypt.key_versions
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_event AFTER DELETE ON colcrypt.key_grants
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_creation BEFORE INSERT ON colcrypt.key_versions
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_creation BEFORE INSERT ON colcrypt.key_grants
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();

CREATE TRIGGER colcrypt_keyring_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON colcrypt.key_versions
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._keyring_changed();
CREATE TRIGGER colcrypt_keyring_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON colcrypt.key_grants
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._keyring_changed();
