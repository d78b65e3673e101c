-- security: INVOKER. Reads pg_stat_statements and the catalog as the caller (a DBA).
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.preflight(p_table text)
RETURNS TABLE (kind text, detail text, calls bigint, remedy text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.preflight import preflight
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return preflight(plpy, p_table, oid)
$$;

COMMENT ON FUNCTION colcrypt.preflight(text) IS
'What the cutover of p_table will change for applications, each with its remedy: statements seen by '
'pg_stat_statements that use an encrypted column for equality, ranges, LIKE or ORDER BY, or use ON CONFLICT, '
'TRUNCATE or ALTER on the table; roles that read it without the key; row-level security, materialized views, '
'statement-level and column triggers, rules. colcrypt.cutover runs it and logs the findings.';
