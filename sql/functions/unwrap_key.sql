-- security: INVOKER. The grant check must see the real caller. It trusts no argument: the KEK file
-- comes from colcrypt._provider_context(token), which answers only during the C key cache's own call.
CREATE OR REPLACE FUNCTION colcrypt._unwrap_key(p_key_id text, p_version integer, p_call_token bytea)
RETURNS bytea
LANGUAGE plpython3u VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
context = plpy.execute(
    plpy.prepare("SELECT colcrypt._provider_context($1) AS c", ["bytea"]), [p_call_token])[0]["c"]
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.server import unwrap_key
return unwrap_key(plpy, p_key_id, p_version, context)
$$;

COMMENT ON FUNCTION colcrypt._unwrap_key(text, integer, bytea) IS
'Internal: unwraps a data key server-side for a role granted it (version 0 = the active one) and returns '
'it to the C key cache, which calls it with a one-time token. Not callable by PUBLIC, and useless to call directly.';
