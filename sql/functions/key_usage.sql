-- security: INVOKER. Reads the shadow tables the caller may read.
CREATE OR REPLACE FUNCTION colcrypt.key_usage(p_key_id text)
RETURNS TABLE (table_name text, column_name text, version integer, value_count bigint)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
    c text;
BEGIN
    FOR m IN
        SELECT g.table_name AS t, g.shadow, g.columns FROM colcrypt.migrations AS g
        WHERE g.key_id = p_key_id AND g.state <> 'rolled_back' AND g.shadow IS NOT NULL
        ORDER BY g.migration_id
    LOOP
        FOREACH c IN ARRAY m.columns LOOP
            RETURN QUERY EXECUTE format(
                'SELECT %1$L::text, %2$L::text, (get_byte(v, 0) << 24 | get_byte(v, 1) << 16 | get_byte(v, 2) << 8'
                || ' | get_byte(v, 3))::integer, count(*) FROM (SELECT substring(%3$I FROM 4 + get_byte(%3$I, 2)'
                || ' FOR 4) AS v FROM %4$s WHERE %3$I IS NOT NULL) AS x GROUP BY v ORDER BY 3',
                m.t, c, c || '_encrypted', m.shadow::regclass
            );
        END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION colcrypt.key_usage(text) IS
'How many values of each migrated table and column are encrypted under each version of key p_key_id (a full '
'scan of the shadow tables): after a rotation and CALL colcrypt.reencrypt, a version no value uses any more can '
'be destroyed.';
