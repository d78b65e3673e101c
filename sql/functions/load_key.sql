-- security: INVOKER. The key is cached for the calling role only.
CREATE OR REPLACE FUNCTION colcrypt.load_key(p_key_id text, p_version integer, p_sealed_key bytea)
RETURNS void
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_load_key';

COMMENT ON FUNCTION colcrypt.load_key(text, integer, bytea) IS
'Loads a data key that the client unwrapped and sealed to colcrypt.session_public_key() into this backend, '
'for the current role, after checking it against the keyring''s key check value. '
'Dropped by colcrypt.forget_keys(), RESET ALL, DISCARD ALL and the end of the session.';
