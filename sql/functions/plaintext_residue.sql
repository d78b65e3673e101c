-- security: INVOKER. Reads statistics and server settings as the caller (a DBA, pg_monitor for WAL).
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.plaintext_residue(p_table text)
RETURNS TABLE (place text, detail text, action text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.residue import residue
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return residue(plpy, p_table, oid)
$$;

COMMENT ON FUNCTION colcrypt.plaintext_residue(text) IS
'Where plaintext of p_table''s migrated columns may still live, measured on this server where it can be (the '
'plaintext table, planner statistics, WAL and replication slots, WAL archive and backups, standbys, the server '
'log, pg_stat_statements), each with what to do about it.';
