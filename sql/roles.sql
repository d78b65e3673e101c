-- Key administration without superuser: members of colcrypt_key_admin create, rotate, rewrap, destroy
-- and grant keys (SECURITY DEFINER functions that touch only the keyring). The role is the cluster's, so
-- that one GRANT serves every database with colcrypt; it is made once and outlives DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'colcrypt_key_admin') THEN
        CREATE ROLE colcrypt_key_admin NOLOGIN;
        COMMENT ON ROLE colcrypt_key_admin IS
        'colcrypt: its members administer keys (colcrypt.add_key, grant_key, revoke_key, rotate_key, rewrap_key, '
        'destroy_key) in each database that has colcrypt, without being superusers.';
    END IF;
END
$$;

GRANT EXECUTE ON FUNCTION
colcrypt.add_key(text, integer, text, text, bytea, bytea),
colcrypt.rotate_key(text, integer, text, text, bytea, bytea),
colcrypt.rewrap_key(text, integer, text, text, bytea, bytea),
colcrypt.destroy_key(text, integer),
colcrypt.grant_key(text, text),
colcrypt.revoke_key(text, text)
TO colcrypt_key_admin;
