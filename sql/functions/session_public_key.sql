-- security: INVOKER. It only makes a key pair in the caller's own backend.
CREATE OR REPLACE FUNCTION colcrypt.session_public_key()
RETURNS bytea
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_session_public_key';

COMMENT ON FUNCTION colcrypt.session_public_key() IS
'Makes a new X25519 key pair held only in this backend and returns its public key. '
'Clients seal data keys to it for colcrypt.load_key, so key bytes never travel in SQL text or logs.';
