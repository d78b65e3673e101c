-- security: INVOKER. It runs as the DBA or the pg_cron job's owner, who holds the key; a SECURITY
-- DEFINER procedure could not COMMIT between batches.
-- search_path: not SET, because a procedure with a SET clause cannot COMMIT; every name in its SQL
-- is schema-qualified or resolved through pg_catalog first (the PL/Python code sets it per batch).
CREATE OR REPLACE PROCEDURE colcrypt.backfill(
    p_table text,
    p_batch_size integer DEFAULT 1000,
    p_max_runtime interval DEFAULT NULL,
    p_sleep interval DEFAULT '0',
    p_worker integer DEFAULT 1,
    p_workers integer DEFAULT 1,
    p_target_batch interval DEFAULT '200 milliseconds',
    p_max_lag interval DEFAULT '30 seconds'
)
LANGUAGE plpython3u SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.backfill import backfill
backfill(plpy, p_table, p_batch_size, p_max_runtime, p_sleep, p_worker, p_workers, p_target_batch, p_max_lag)
$$;

COMMENT ON PROCEDURE colcrypt.backfill(text, integer, interval, interval, integer, integer, interval, interval) IS -- noqa: LT01
'Copies the rows of p_table that predate its dual-write triggers into the shadow table, encrypted, in key '
'order: one transaction per batch with its checkpoint, resumable, rows locked FOR KEY SHARE, never overwriting '
'a trigger''s write, giving way on lock conflicts, adapting the batch size toward p_target_batch, pausing on '
'replication lag over p_max_lag, stopping after p_max_runtime or on colcrypt.pause(). p_worker of p_workers '
'takes one share of the key space. Not in a transaction block (it commits).';
