-- security: INVOKER. DBAs (EXECUTE is revoked from PUBLIC) pause migrations as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.pause(p_table text, p_reason text DEFAULT NULL)
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
    set_paused(plpy, p_table, oid, True, p_reason)
$$;

COMMENT ON FUNCTION colcrypt.pause(text, text) IS
'Pauses the backfill of p_table: every worker stops after its current batch (pg_cron runs end at once) '
'until colcrypt.resume(p_table). The triggers keep capturing writes.';
