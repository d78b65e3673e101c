-- security: INVOKER. Runs as whoever changes the keyring or the grants.
CREATE OR REPLACE FUNCTION colcrypt._keyring_changed()
RETURNS trigger
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_keyring_changed';

COMMENT ON FUNCTION colcrypt._keyring_changed() IS
'Internal: tells every backend that the keyring or the grants changed (a relcache invalidation of '
'colcrypt.key_versions): before its next use of a key each one unwraps server-side keys again and re-reads '
'the state of the keys its client loaded, so that rotation, destruction and revocation reach running sessions.';
