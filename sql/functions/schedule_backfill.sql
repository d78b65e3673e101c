-- security: INVOKER. The pg_cron jobs run as the role that schedules them, which must hold the key.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.schedule_backfill(
    p_table text, p_workers integer DEFAULT 1, p_batch_size integer DEFAULT 1000, p_sleep interval DEFAULT '0'
)
RETURNS TABLE (worker integer, jobid bigint, job_name text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.schedule import schedule
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return schedule(plpy, p_table, oid, p_workers, p_batch_size, p_sleep)
$$;

COMMENT ON FUNCTION colcrypt.schedule_backfill(text, integer, integer, interval) IS
'Runs the backfill of p_table unattended with pg_cron: one job per worker, every minute, each run stopping '
'after 50 seconds; the workers split the key space without overlap and the jobs are removed when the backfill '
'is done. Needs pg_cron in this database (cron.database_name).';
