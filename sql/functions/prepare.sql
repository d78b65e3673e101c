-- security: INVOKER. The caller (a DBA holding the key) owns the shadow table and the SECURITY
-- DEFINER trigger functions it creates, so applications need no key and no grant on the shadow.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.prepare(
    p_table text, p_columns text[], p_key_id text, p_blind_index text[] DEFAULT '{}'
)
RETURNS TABLE (migration_id bigint, shadow text, key_columns text[])
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET lock_timeout = '5s'
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.prepare import prepare
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [prepare(plpy, p_table, oid, p_columns, p_key_id, p_blind_index)]
$$;

COMMENT ON FUNCTION colcrypt.prepare(text, text[], text, text[]) IS
'Starts the migration of table p_table (the name applications use): checks it (a key, the columns exist, '
'round-trip through text, nothing depends on them that ciphertext would break, key p_key_id usable), then in '
'this transaction creates the shadow table <table>_encrypted (with a blind index <col>_bidx for the columns in '
'p_blind_index) and the dual-write triggers (INSERT, UPDATE '
'including key changes, DELETE, TRUNCATE; ENABLE ALWAYS) and records the migration. See docs/migration.md.';
