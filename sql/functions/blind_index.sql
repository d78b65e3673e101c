-- security: INVOKER. The key cache is per role: only roles with the key can compute tokens.
-- search_path: not SET, like encrypt_column: it runs once per value in triggers and lookups.
CREATE OR REPLACE FUNCTION colcrypt.blind_index(p_value text, p_key_id text, p_context text)
RETURNS bytea
LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_blind_index';

COMMENT ON FUNCTION colcrypt.blind_index(text, text, text) IS
'A 16-byte deterministic token of p_value for equality lookups on an encrypted column: HMAC-SHA256 under a key '
'derived from the active version of p_key_id, bound to p_context (the column''s identity, not the row). Equal '
'values give equal tokens within one column and key version. NULL gives NULL.';
