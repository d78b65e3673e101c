-- security: INVOKER. It reads statistics views the caller may read and the server's /proc entries.
CREATE OR REPLACE FUNCTION colcrypt.baseline_snapshot()
RETURNS jsonb
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import json
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.baseline.server import snapshot
return json.dumps(snapshot(plpy))
$$;

COMMENT ON FUNCTION colcrypt.baseline_snapshot() IS
'The counters a baseline is computed from (pg_stat_database, pg_stat_bgwriter, pg_stat_statements when '
'installed, server CPU ticks from /proc), read now. Pass it as p_start to capture_baseline or '
'compare_baseline to measure a window you drive yourself, e.g. while replaying a workload.';
