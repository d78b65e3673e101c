-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) grant keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.grant_key(p_key_id text, p_role text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_role regrole := pg_catalog.to_regrole(p_role);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %L is not in colcrypt.keyring', p_key_id),
            HINT = 'Create it first: colcrypt keys create KEY_ID. List keys with SELECT key_id FROM colcrypt.keyring.';
    END IF;
    IF v_role IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = format('colcrypt: role %L does not exist', p_role),
            HINT = 'Create the role first, or check the spelling (role names are case-sensitive when quoted).';
    END IF;
    IF EXISTS (SELECT FROM colcrypt.key_grants AS g WHERE g.key_id = p_key_id AND g.grantee = v_role) THEN
        RETURN;  -- granted already: nothing to log
    END IF;
    INSERT INTO colcrypt.key_grants (key_id, grantee) VALUES (p_key_id, v_role)
    ON CONFLICT (key_id, grantee) DO NOTHING;
END
$$;

COMMENT ON FUNCTION colcrypt.grant_key(text, text) IS
'Lets sessions of p_role (and of its members) have key p_key_id unwrapped server-side on first use. '
'Needs colcrypt.kek_file (or another provider) configured by a superuser. Idempotent.';
