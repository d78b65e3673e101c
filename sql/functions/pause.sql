-- security: INVOKER. DBAs (EXECUTE is revoked from PUBLIC) pause migrations as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; every other name is schema-qualified (pg_catalog is searched first anyway).
CREATE FUNCTION colcrypt.pause(p_table text, p_reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE colcrypt.migrations AS m SET paused = TRUE, pause_reason = p_reason
    WHERE m.source = pg_catalog.to_regclass(p_table) AND m.state NOT IN ('cleaned', 'rolled_back')
    RETURNING m.migration_id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC017',
            MESSAGE = pg_catalog.format('colcrypt: %s is not being migrated', p_table),
            HINT = 'See SELECT table_name, state FROM colcrypt.migrations.';
    END IF;
    INSERT INTO colcrypt.migration_events (migration_id, table_name, event, detail)
    VALUES (v_id, p_table, 'pause', pg_catalog.jsonb_build_object('reason', p_reason));
END
$$;

COMMENT ON FUNCTION colcrypt.pause(text, text) IS
'Pauses the backfill of p_table: every worker stops after its current batch (pg_cron runs end at once) '
'until colcrypt.resume(p_table). The triggers keep capturing writes.';
