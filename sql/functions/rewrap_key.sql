-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) rewrap keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.rewrap_key(
    p_key_id text,
    p_version integer,
    p_provider text,
    p_kek_ref text,
    p_wrapped_key bytea,
    p_kcv bytea
)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row colcrypt.key_versions%ROWTYPE;
BEGIN
    SELECT * INTO v_row FROM colcrypt.key_versions AS k
    WHERE k.key_id = p_key_id AND k.version = p_version
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s version %s is not in colcrypt.keyring', p_key_id, p_version),
            HINT = 'See SELECT key_id, version FROM colcrypt.keyring.';
    END IF;
    IF v_row.state = 'destroyed' THEN
        RAISE EXCEPTION USING ERRCODE = 'KC007',
            MESSAGE = format('colcrypt: key %s version %s was destroyed', p_key_id, p_version),
            HINT = 'A destroyed key cannot be rewrapped.';
    END IF;
    IF p_kcv IS DISTINCT FROM v_row.kcv THEN
        RAISE EXCEPTION USING ERRCODE = 'KC005',
            MESSAGE = format('colcrypt: the new wrapping of key %s version %s holds another data key', p_key_id,
                             p_version),
            HINT = 'Rewrapping changes only the KEK; unwrap the key with its current KEK and wrap that same key.';
    END IF;
    IF p_provider IS NULL OR p_kek_ref IS NULL OR p_wrapped_key IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC008',
            MESSAGE = format('colcrypt: rewrap of key %s needs a provider, a KEK reference and the wrapped key',
                             p_key_id),
            HINT = 'Use colcrypt keys rewrap, which supplies them.';
    END IF;
    UPDATE colcrypt.key_versions AS k
    SET provider = p_provider, kek_ref = p_kek_ref, wrapped_key = p_wrapped_key
    WHERE k.key_id = p_key_id AND k.version = p_version;
END
$$;

COMMENT ON FUNCTION colcrypt.rewrap_key(text, integer, text, text, bytea, bytea) IS
'KEK rotation of one data-key version: replaces its provider, KEK reference and wrapped form, after checking '
'that the new wrapping holds the same data key (its key check value). No value is re-encrypted. Called by '
'colcrypt keys rewrap, which unwraps with the old KEK and wraps with the new one outside the database.';
