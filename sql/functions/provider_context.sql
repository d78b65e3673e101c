-- security: INVOKER. It reveals settings only to the key provider call in progress, by its one-time token.
CREATE OR REPLACE FUNCTION colcrypt._provider_context(p_call_token bytea)
RETURNS text
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_provider_context';

COMMENT ON FUNCTION colcrypt._provider_context(bytea) IS
'Internal: gives colcrypt._unwrap_key the KEK file and the provider configuration file (colcrypt.kek_file, '
'colcrypt.provider_config, hidden from non-superusers), one a line, '
'during a call made by the C key cache with token p_call_token; raises 42501 otherwise.';
