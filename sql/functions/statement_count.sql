-- security: INVOKER. It only parses the text it is given.
CREATE OR REPLACE FUNCTION colcrypt._statement_count(p_sql text)
RETURNS integer
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_statement_count';

COMMENT ON FUNCTION colcrypt._statement_count(text) IS
'Internal: how many statements p_sql holds, as the parser sees it; the migration steps run a statement they '
'generate only when it is one.';
