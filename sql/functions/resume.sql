-- security: INVOKER. DBAs (EXECUTE is revoked from PUBLIC) resume migrations as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; every other name is schema-qualified (pg_catalog is searched first anyway).
CREATE FUNCTION colcrypt.resume(p_table text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE colcrypt.migrations AS m SET paused = FALSE, pause_reason = NULL
    WHERE m.source = pg_catalog.to_regclass(p_table) AND m.state NOT IN ('cleaned', 'rolled_back')
    RETURNING m.migration_id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC017',
            MESSAGE = pg_catalog.format('colcrypt: %s is not being migrated', p_table),
            HINT = 'See SELECT table_name, state FROM colcrypt.migrations.';
    END IF;
    INSERT INTO colcrypt.migration_events (migration_id, table_name, event) VALUES (v_id, p_table, 'resume');
END
$$;

COMMENT ON FUNCTION colcrypt.resume(text) IS
'Lets the backfill of p_table continue after colcrypt.pause(): the next CALL colcrypt.backfill (or pg_cron run) '
'goes on from its checkpoints.';
