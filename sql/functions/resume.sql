-- security: INVOKER. DBAs (EXECUTE is revoked from PUBLIC) resume migrations as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.resume(p_table text)
RETURNS void
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.state import set_paused
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    set_paused(plpy, p_table, oid, False, None)
$$;

COMMENT ON FUNCTION colcrypt.resume(text) IS
'Lets the backfill of p_table continue after colcrypt.pause(): the next CALL colcrypt.backfill (or pg_cron run) '
'goes on from its checkpoints.';
