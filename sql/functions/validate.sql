-- security: INVOKER. Only a role holding the key can decrypt what it compares.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.validate(p_table text, p_sample_size integer DEFAULT NULL)
RETURNS colcrypt.validations
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.validate import validate
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return validate(plpy, p_table, oid, p_sample_size)
$$;

COMMENT ON FUNCTION colcrypt.validate(text, integer) IS
'Decrypts the shadow table''s values and compares them with the table, in one snapshot: every row '
'(p_sample_size NULL) or a sample. Stores and returns total, valid, mismatched, missing, orphaned and example '
'keys; a clean full validation moves the migration from backfilled to validated.';
