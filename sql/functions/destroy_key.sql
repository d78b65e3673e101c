-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) destroy keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.destroy_key(p_key_id text, p_version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    IF NOT EXISTS (SELECT FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s is not in colcrypt.keyring', p_key_id),
            HINT = 'See SELECT key_id, version, state FROM colcrypt.keyring.';
    END IF;
    IF p_version IS NOT NULL AND NOT EXISTS (
        SELECT FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id AND k.version = p_version
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s has no version %s', p_key_id, p_version),
            HINT = 'See SELECT key_id, version, state FROM colcrypt.keyring.';
    END IF;
    UPDATE colcrypt.key_versions AS k
    SET state = 'destroyed', state_changed_at = pg_catalog.now(), wrapped_key = '\x'::bytea
    WHERE k.key_id = p_key_id AND (p_version IS NULL OR k.version = p_version) AND k.state <> 'destroyed';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM colcrypt.forget_keys();
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION colcrypt.destroy_key(text, integer) IS
'Crypto-shredding: destroys every version of p_key_id (or only p_version) — the wrapped data key is erased '
'from the keyring, so no KEK can recover it, and values encrypted under it can never be decrypted again (KC007). '
'Backends that hold the key drop it at their next use of it (colcrypt._keyring_changed); this session forgets '
'its keys at once. Irreversible: backups of the keyring taken before still hold the wrapped key. '
'Returns the number of versions destroyed.';
