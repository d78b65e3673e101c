-- security: INVOKER. Runs as whoever logs a migration step.
CREATE OR REPLACE FUNCTION colcrypt._refuse_event_change()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'KC026',
        MESSAGE = 'colcrypt: colcrypt.migration_events is append-only',
        HINT = 'The event log is evidence: rows are added, never changed or removed (colcrypt.verify_audit checks it).';
END
$$;

COMMENT ON FUNCTION colcrypt._refuse_event_change() IS
'Internal: refuses UPDATE, DELETE and TRUNCATE of colcrypt.migration_events.';
