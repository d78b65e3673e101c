-- security: INVOKER. It decrypts with the caller's own key grants, through decrypt_column.
-- The settings match encrypt_value's, so the canonical text form parses back to the same value.
CREATE OR REPLACE FUNCTION colcrypt.decrypt_value(p_ciphertext bytea, p_context text, p_type anyelement)
RETURNS anyelement
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 3
SET bytea_output = 'hex'
AS $$
BEGIN
    -- PL/pgSQL converts the text to the polymorphic result type through its input function.
    RETURN colcrypt.decrypt_column(p_ciphertext, p_context);
END
$$;

COMMENT ON FUNCTION colcrypt.decrypt_value(bytea, text, anyelement) IS
'Decrypts a value made by colcrypt.encrypt_value and returns it as the type of p_type, e.g. '
'colcrypt.decrypt_value(c, ctx, NULL::date). For a type modifier cast the result: ...::numeric(10,2).';
