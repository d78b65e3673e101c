-- security: INVOKER. The table's owner (or a superuser) finalizes, as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.finalize(
    p_table text,
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20
)
RETURNS TABLE (stage text, attempts integer, waited_ms bigint, switch_ms double precision)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.finalize import finalize
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [finalize(plpy, p_table, oid, p_lock_timeout, p_retries)]
$$;

COMMENT ON FUNCTION colcrypt.finalize(text, interval, integer) IS
'After the write cutover: the shadow becomes the table of record. Foreign keys out of and into p_table move to '
'the shadow (NOT VALID; cleanup validates them), CHECKs on unencrypted columns too; the name''s trigger stops '
'writing the plaintext table and checks the CHECKs and NOT NULLs of encrypted columns itself. The plaintext '
'table loses its grants and is kept for cleanup; rollback is still possible. One short switch under '
'p_lock_timeout, retried up to p_retries times.';
