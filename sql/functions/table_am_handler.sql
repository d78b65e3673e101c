-- security: INVOKER. The server calls it when it opens a table of the access method.
-- search_path: not SET; the C code resolves no names.
CREATE OR REPLACE FUNCTION colcrypt._table_am_handler(internal)
RETURNS table_am_handler
LANGUAGE c VOLATILE STRICT PARALLEL SAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_table_am_handler';

COMMENT ON FUNCTION colcrypt._table_am_handler(internal) IS
'Handler of the table access method colcrypt: heap, with each row''s encrypted columns sealed when it is stored.';
