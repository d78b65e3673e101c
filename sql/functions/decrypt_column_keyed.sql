-- security: INVOKER. Decryption must use the caller's own key grants.
-- search_path: not SET here, because a SET clause costs about 0.6 us per call on the hottest path.
-- The C code resolves no names on that path; its slow path (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.decrypt_column(p_ciphertext bytea, p_context_prefix text, p_row_key anyelement)
RETURNS text
LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_decrypt_column_keyed';

COMMENT ON FUNCTION colcrypt.decrypt_column(bytea, text, anyelement) IS
'decrypt_column(p_ciphertext, p_context_prefix || p_row_key::text), with the context built in C: what the views '
'of a cut-over table call for each encrypted column of a row with a one-column key.';
