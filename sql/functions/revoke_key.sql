-- security: INVOKER. Key administrators (EXECUTE is revoked from PUBLIC) revoke as themselves.
CREATE OR REPLACE FUNCTION colcrypt.revoke_key(p_key_id text, p_role text)
RETURNS boolean
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH revoked AS (
        DELETE FROM colcrypt.key_grants AS g
        WHERE g.key_id = p_key_id AND g.grantee = pg_catalog.to_regrole(p_role)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM revoked)
$$;

COMMENT ON FUNCTION colcrypt.revoke_key(text, text) IS
'Removes the grant of key p_key_id to p_role; returns whether there was one. '
'Sessions of p_role that hold the key unwrapped server-side lose it at their next use of it.';
