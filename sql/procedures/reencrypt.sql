-- security: INVOKER. It runs as the key administrator or the pg_cron job's owner, who holds the key; a
-- SECURITY DEFINER procedure could not COMMIT between batches.
-- search_path: not SET, because a procedure with a SET clause cannot COMMIT; the PL/Python code pins it
-- once the table's name is resolved, and again after each COMMIT.
CREATE OR REPLACE PROCEDURE colcrypt.reencrypt(
    p_table text,
    p_batch_size integer DEFAULT 1000,
    p_sleep interval DEFAULT '0',
    p_max_runtime interval DEFAULT NULL
)
LANGUAGE plpython3u SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.reencrypt import reencrypt
from colcrypt.plpy_helpers import caller_table
reencrypt(plpy, p_table, caller_table(plpy, p_table), p_batch_size, p_sleep, p_max_runtime)
$$;

COMMENT ON PROCEDURE colcrypt.reencrypt(text, integer, interval, interval) IS -- noqa: LT01
'After a key rotation: re-encrypts the values of p_table''s shadow that are under an older version of its key '
'with the active version (blind indexes too), in key order, one committed batch of p_batch_size rows at a time '
'(p_sleep between batches, stopping after p_max_runtime), online and resumable; the table''s triggers do not '
'fire. A pass that finds nothing left removes (or, run by it, retires) the job of colcrypt.schedule_reencrypt. '
'Not in a transaction block.';
