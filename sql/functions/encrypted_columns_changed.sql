-- security: INVOKER. It only sends cache invalidations.
-- search_path: not SET; the C code resolves no names.
CREATE OR REPLACE FUNCTION colcrypt._encrypted_columns_changed()
RETURNS trigger
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_encrypted_columns_changed';

COMMENT ON FUNCTION colcrypt._encrypted_columns_changed() IS
'Trigger of colcrypt.encrypted_columns and colcrypt.read_redirects: every session drops its cache of the table, and plans of the tables '
'named are made again.';
