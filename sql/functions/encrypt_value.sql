-- security: INVOKER. It encrypts with the caller's own key grants, through encrypt_column.
-- The settings below make the text form canonical, whatever the session's DateStyle or TimeZone.
CREATE OR REPLACE FUNCTION colcrypt.encrypt_value(p_value anyelement, p_key_id text, p_context text)
RETURNS bytea
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 3
SET bytea_output = 'hex'
AS $$
    -- format('%s') uses the type's output function, keeping char(n) padding that ::text drops.
    SELECT colcrypt.encrypt_column(
        CASE WHEN p_value IS NOT NULL THEN format('%s', p_value) END, p_key_id, p_context
    )
$$;

COMMENT ON FUNCTION colcrypt.encrypt_value(anyelement, text, text) IS
'Encrypts a value of any type from its canonical text form (ISO dates, UTC timestamps, exact floats, hex bytea), '
'so that colcrypt.decrypt_value restores it exactly. NULL gives NULL.';
