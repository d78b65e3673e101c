-- security: INVOKER. It encrypts with the key grants of whoever writes the row.
-- search_path: not SET here (it would cost on every row); the C code resolves no names, and its slow path
-- (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.encrypt_row()
RETURNS trigger
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_encrypt_row';

COMMENT ON FUNCTION colcrypt.encrypt_row() IS
'BEFORE INSERT OR UPDATE row trigger of a table with encrypted columns (colcrypt.encrypted_columns): seals the '
'value of each logical column into its envelope (and blind index), bound to the column and the row''s key, and '
'stores the logical column NULL; a NULL logical column keeps the envelope the row carries.';
