-- security: INVOKER. The caller (a DBA holding the key) owns the shadow table and the SECURITY
-- DEFINER trigger functions it creates, so applications need no key and no grant on the shadow.
CREATE FUNCTION colcrypt.prepare(p_table text, p_columns text[], p_key_id text)
RETURNS TABLE (migration_id bigint, shadow text, key_columns text[])
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.prepare import prepare
return [prepare(plpy, p_table, p_columns, p_key_id)]
$$;

COMMENT ON FUNCTION colcrypt.prepare(text, text[], text) IS
'Starts the migration of table p_table (the name applications use): checks it (a key, the columns exist, '
'round-trip through text, nothing depends on them that ciphertext would break, key p_key_id usable), then in '
'this transaction creates the shadow table <table>_encrypted and the dual-write triggers (INSERT, UPDATE '
'including key changes, DELETE, TRUNCATE; ENABLE ALWAYS) and records the migration. See docs/migration.md.';
