-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) revoke grants, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.revoke_key(p_key_id text, p_role text)
RETURNS boolean
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
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
