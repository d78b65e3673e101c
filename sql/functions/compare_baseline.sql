-- security: INVOKER. Comparisons are run by DBAs (EXECUTE is revoked from PUBLIC) as themselves.
CREATE OR REPLACE FUNCTION colcrypt.compare_baseline(
    p_label text,
    p_duration interval DEFAULT '1 minute',
    p_thresholds jsonb DEFAULT NULL,
    p_start jsonb DEFAULT NULL,
    p_workload jsonb DEFAULT NULL
)
RETURNS TABLE (
    metric text, baseline double precision, current double precision, change_pct double precision,
    limit_pct double precision, passed boolean, recommendation text, comparison_id bigint
)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.baseline.server import compare_now
return compare_now(plpy, p_label, p_duration, p_thresholds, p_start, p_workload)
$$;

COMMENT ON FUNCTION colcrypt.compare_baseline(text, interval, jsonb, jsonb, jsonb) IS
'Measures now as capture_baseline does and compares with baseline p_label: each metric with its change in '
'percent, the threshold, pass or fail (NULL: informational or too little load to judge) and a '
'recommendation. Records the comparison in colcrypt.baseline_comparisons.';
