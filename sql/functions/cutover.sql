-- security: INVOKER. The table's owner (or a superuser) switches its name, as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.cutover(
    p_table text,
    p_stage text,
    p_force boolean DEFAULT FALSE,
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20,
    p_max_validation_age interval DEFAULT '1 day'
)
RETURNS TABLE (stage text, attempts integer, waited_ms bigint, switch_ms double precision)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.cutover import cutover
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [cutover(plpy, p_table, oid, p_stage, p_force, p_lock_timeout, p_retries, p_max_validation_age)]
$$;

COMMENT ON FUNCTION colcrypt.cutover(text, text, boolean, interval, integer, interval) IS
'Switches p_table''s name to the encrypted data. Stage reads: the name becomes a view that decrypts the shadow '
'(columns, defaults, grants and comments as the table had them; dependent views re-pointed), writes through it '
'go on to the plaintext table, renamed <table>_plaintext. Stage writes: writes through the name go to the shadow '
'first and then, in reverse, to the plaintext table; the table''s triggers move to the shadow. Reads needs a clean '
'full validation younger than '
'p_max_validation_age and the key granted to every role that reads the table (p_force skips both). One short '
'switch under p_lock_timeout, retried up to p_retries times; returns the attempts and the time taken.';
