-- security: INVOKER. It only tells where make install put colcrypt's server-side Python code.
CREATE OR REPLACE FUNCTION colcrypt._python_path()
RETURNS text
LANGUAGE c STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_python_path';

COMMENT ON FUNCTION colcrypt._python_path() IS
'Internal: the directory holding the Python code that colcrypt''s PL/Python functions import: the release '
'make install made current (colcrypt/current, resolved when asked).';
