-- security: INVOKER. The table's owner (or a superuser) rolls back, as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.rollback(
    p_table text,
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20
)
RETURNS TABLE (from_state text, attempts integer, waited_ms bigint, switch_ms double precision)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.rollback import rollback
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [rollback(plpy, p_table, oid, p_lock_timeout, p_retries)]
$$;

COMMENT ON FUNCTION colcrypt.rollback(text, interval, integer) IS
'Undoes the migration of p_table from any stage before cleanup: removes its pg_cron jobs, gives the name back to '
'the plaintext table (which has taken every write throughout), drops the view, triggers and shadow table, and '
'records the event. One short switch under p_lock_timeout, retried up to p_retries times.';
