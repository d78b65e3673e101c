-- Every session sees a change of the encrypted columns at its next statement.
CREATE TRIGGER colcrypt_encrypted_columns_changed
AFTER INSERT OR UPDATE OR DELETE ON colcrypt.encrypted_columns
FOR EACH ROW EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
CREATE TRIGGER colcrypt_encrypted_columns_truncated
AFTER TRUNCATE ON colcrypt.encrypted_columns
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
CREATE TRIGGER colcrypt_read_redirects_changed
AFTER INSERT OR UPDATE OR DELETE ON colcrypt.read_redirects
FOR EACH ROW EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
CREATE TRIGGER colcrypt_read_redirects_truncated
AFTER TRUNCATE ON colcrypt.read_redirects
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
