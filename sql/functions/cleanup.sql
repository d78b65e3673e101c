-- security: INVOKER. The table's owner (or a superuser) cleans up, as themselves; pg_cron runs it
-- as the role that scheduled it.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.cleanup(
    p_table text,
    p_retain interval DEFAULT '90 days',
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20
)
RETURNS TABLE (place text, detail text, action text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.cleanup import cleanup
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return cleanup(plpy, p_table, oid, p_retain, p_lock_timeout, p_retries)
$$;

COMMENT ON FUNCTION colcrypt.cleanup(text, interval, interval, integer) IS
'After finalize: validates the constraints finalize moved; then, until p_retain has passed since finalize, keeps '
'the plaintext table without grants (a daily pg_cron job, colcrypt-cleanup-<id>, calls cleanup again); once '
'it has, drops it in one short switch, moving the sequences its columns own and its identity columns to the '
'shadow and dropping colcrypt''s triggers and functions. Returns what it did and where plaintext of the '
'columns may still live (WAL, backups, standbys, logs, pg_stat_statements), with what to do about each.';
