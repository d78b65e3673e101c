-- security: INVOKER. Runs as whoever logs a migration step.
CREATE OR REPLACE FUNCTION colcrypt._chain_event()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.row_hash IS NOT NULL THEN
        RETURN NEW;  -- restored from a dump with its links and hash, which colcrypt.verify_audit() checks
    END IF;
    -- one writer at a time, so that each row links to the one committed before it
    PERFORM pg_advisory_xact_lock(hashtextextended('colcrypt.migration_events', 0));
    SELECT e.event_id, e.row_hash INTO NEW.prev_event_id, NEW.prev_hash
    FROM colcrypt.migration_events AS e ORDER BY e.event_id DESC LIMIT 1;
    NEW.row_hash := colcrypt._event_hash(NEW);
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION colcrypt._chain_event() IS
'Internal: links each new row of colcrypt.migration_events to the previous one by its hash.';
