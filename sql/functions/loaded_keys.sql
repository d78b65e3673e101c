-- security: INVOKER. It lists only the calling role's entries.
CREATE OR REPLACE FUNCTION colcrypt.loaded_keys()
RETURNS TABLE (key_id text, version integer, source text, active boolean)
LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_loaded_keys';

COMMENT ON FUNCTION colcrypt.loaded_keys() IS
'Data keys cached in this backend for the current role: key id, version, source (server or session) '
'and whether new values are encrypted with it. Never shows key bytes.';
