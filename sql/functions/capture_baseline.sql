-- security: INVOKER. Baselines are taken by DBAs (EXECUTE is revoked from PUBLIC) as themselves.
CREATE OR REPLACE FUNCTION colcrypt.capture_baseline(
    p_label text,
    p_duration interval DEFAULT '1 minute',
    p_thresholds jsonb DEFAULT NULL,
    p_start jsonb DEFAULT NULL,
    p_workload jsonb DEFAULT NULL,
    p_replace boolean DEFAULT FALSE
)
RETURNS colcrypt.baselines
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.baseline.server import capture
return capture(plpy, p_label, p_duration, p_thresholds, p_start, p_workload, p_replace)
$$;

COMMENT ON FUNCTION colcrypt.capture_baseline(text, interval, jsonb, jsonb, jsonb, boolean) IS
'Measures the database for p_duration (or since the snapshot p_start) and stores the baseline p_label: '
'latency percentiles (pg_stat_statements, else active time per transaction, or a replayed workload''s '
'client timings in p_workload), transactions/s, server CPU time, IO. p_thresholds overrides the defaults '
'{"latency": 10, "throughput": -10, "cpu": 15} (percent). See docs/baseline.md.';
