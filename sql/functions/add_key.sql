-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) add keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.add_key(
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
    v_counter text := format('key_counter_%s_v%s', left(md5(p_key_id), 16), p_version);
BEGIN
    IF p_key_id IS NULL OR p_key_id !~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'KC008',
            MESSAGE = format('colcrypt: %L is not a valid key id', p_key_id),
            HINT = 'A key id is 1 to 128 characters: letters, digits and . _ : / -, starting with a letter or digit.';
    END IF;
    IF EXISTS (
        SELECT 1 FROM colcrypt.key_versions AS k
        WHERE k.key_id = p_key_id AND k.version = p_version
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC011',
            MESSAGE = format('colcrypt: key %s version %s already exists', p_key_id, p_version),
            HINT = 'Choose another key id, or rotate the key to make a new version.';
    END IF;
    EXECUTE format('CREATE SEQUENCE colcrypt.%I INCREMENT BY 256 MINVALUE 0 START WITH 256', v_counter);
    EXECUTE format('GRANT SELECT ON SEQUENCE colcrypt.%I TO PUBLIC', v_counter);
    INSERT INTO colcrypt.key_versions (key_id, version, provider, kek_ref, wrapped_key, kcv, counter)
    VALUES (
        p_key_id, p_version, p_provider, p_kek_ref, p_wrapped_key, p_kcv,
        format('colcrypt.%I', v_counter)::regclass
    );
END
$$;

COMMENT ON FUNCTION colcrypt.add_key(text, integer, text, text, bytea, bytea) IS
'Adds a wrapped data-key version to the keyring, with its encryption-counter sequence. '
'Called by colcrypt keys create, which generates and wraps the key outside the database.';
