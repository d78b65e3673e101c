-- security: INVOKER. The grant check must see the real caller. EXECUTE is revoked from PUBLIC:
-- only the C key cache calls it (through fmgr, which skips the EXECUTE check) and keeps the key it returns.
CREATE FUNCTION colcrypt._unwrap_key(
    p_key_id text, p_version integer, p_kek_file text, p_python_path text
)
RETURNS bytea
LANGUAGE plpython3u VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
if p_python_path not in sys.path:
    sys.path.insert(0, p_python_path)
from colcrypt.server import unwrap_key
return unwrap_key(plpy, p_key_id, p_version, p_kek_file)
$$;

COMMENT ON FUNCTION colcrypt._unwrap_key(text, integer, text, text) IS
'Internal: unwraps a data key server-side for a role granted it (version 0 = the active one) and returns '
'version || key to the C key cache. Not callable by PUBLIC.';
