-- security: INVOKER. The job runs as the role that schedules it, which must hold the key.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.schedule_reencrypt(
    p_table text,
    p_batch_size integer DEFAULT 1000,
    p_sleep interval DEFAULT '0'
)
RETURNS bigint
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.reencrypt import scheduled
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return scheduled(plpy, p_table, oid, p_batch_size, p_sleep)
$$;

COMMENT ON FUNCTION colcrypt.schedule_reencrypt(text, integer, interval) IS
'After a key rotation: a pg_cron job (colcrypt-reencrypt-<id>) that runs CALL colcrypt.reencrypt(p_table) every '
'minute for 50 seconds until a pass finds no value under an older key version, then retires itself. Returns '
'the job id. Needs pg_cron in this database (KC010 says where it is).';
