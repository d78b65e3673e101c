-- security: INVOKER. The key cache is per role: only roles with the key can verify values.
-- search_path: not SET, like decrypt_column: it runs once per value in a validation.
CREATE OR REPLACE FUNCTION colcrypt.verify_column(p_value bytea, p_context text, p_expected text)
RETURNS boolean
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_verify_column';

COMMENT ON FUNCTION colcrypt.verify_column(bytea, text, text) IS
'True when p_value decrypts under p_context to exactly p_expected (NULL matches only NULL). A malformed, '
'altered or moved value is false rather than an error, so validation counts it; missing key access still raises.';
