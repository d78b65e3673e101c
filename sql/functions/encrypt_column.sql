-- security: INVOKER. The key cache is per role; running as the caller is what makes grants count.
-- search_path: not SET here, because a SET clause costs about 0.6 us per call on the hottest path.
-- The C code resolves no names on that path; its slow path (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.encrypt_column(p_value text, p_key_id text, p_context text)
RETURNS bytea
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_encrypt_column';

COMMENT ON FUNCTION colcrypt.encrypt_column(text, text, text) IS
'Encrypts p_value with the active version of key p_key_id (AES-256-GCM, random 96-bit nonce) into the '
'colcrypt envelope, binding p_context (the column''s stable identity, optionally the row key) as associated data. '
'NULL gives NULL. VOLATILE and PARALLEL UNSAFE: each call draws a nonce and counts it against the key.';
