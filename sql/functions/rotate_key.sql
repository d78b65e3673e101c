-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) rotate keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.rotate_key(
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
    v_last integer;
BEGIN
    PERFORM FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id FOR UPDATE;
    SELECT max(k.version) INTO v_last FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id;
    IF v_last IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s is not in colcrypt.keyring', p_key_id),
            HINT = 'Create it first: colcrypt keys create.';
    END IF;
    IF p_version IS DISTINCT FROM v_last + 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'KC011',
            MESSAGE = format('colcrypt: key %s is at version %s, so its next version is %s, not %s', p_key_id,
                             v_last, v_last + 1, p_version),
            HINT = 'Another rotation ran meanwhile; run colcrypt keys rotate again.';
    END IF;
    UPDATE colcrypt.key_versions AS k SET state = 'retired', state_changed_at = pg_catalog.now()
    WHERE k.key_id = p_key_id AND k.state = 'active';
    PERFORM colcrypt.add_key(p_key_id, p_version, p_provider, p_kek_ref, p_wrapped_key, p_kcv);
END
$$;

COMMENT ON FUNCTION colcrypt.rotate_key(text, integer, text, text, bytea, bytea) IS
'Data-key rotation: adds version p_version (the next one) of p_key_id, wrapped outside the database, as the '
'active version; the previous active version becomes retired (values under it still decrypt). Sessions that '
'load the key from then on encrypt with the new version; CALL colcrypt.reencrypt(table) moves existing values. '
'Called by colcrypt keys rotate.';
