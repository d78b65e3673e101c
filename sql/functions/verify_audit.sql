-- security: INVOKER. Reads the event log as the caller.
CREATE OR REPLACE FUNCTION colcrypt.verify_audit()
RETURNS TABLE (events bigint, head_event bigint, head_hash text, problem text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e colcrypt.migration_events;
    v_prev bigint;
    v_prev_hash bytea;
    v_seen bigint := 0;
    v_total bigint;
BEGIN
    SELECT count(*) INTO v_total FROM colcrypt.migration_events;
    LOOP  -- follow the chain from its first row
        SELECT * INTO e FROM colcrypt.migration_events AS x
        WHERE x.prev_event_id IS NOT DISTINCT FROM v_prev ORDER BY x.event_id LIMIT 1;
        EXIT WHEN NOT FOUND;
        IF e.prev_hash IS DISTINCT FROM v_prev_hash THEN
            RETURN QUERY SELECT v_seen, e.event_id, encode(v_prev_hash, 'hex'),
                format('event %s does not carry the hash of the event before it (%s)', e.event_id,
                       coalesce(v_prev::text, 'none'));
            RETURN;
        END IF;
        IF e.row_hash IS DISTINCT FROM colcrypt._event_hash(e) THEN
            RETURN QUERY SELECT v_seen, e.event_id, encode(v_prev_hash, 'hex'),
                format('event %s was changed after it was logged (its hash does not match its content)', e.event_id);
            RETURN;
        END IF;
        v_seen := v_seen + 1;
        v_prev := e.event_id;
        v_prev_hash := e.row_hash;
    END LOOP;
    IF v_seen <> v_total THEN  -- the first row the walk did not reach
        SELECT * INTO e FROM colcrypt.migration_events AS x
        WHERE x.event_id > coalesce(v_prev, 0) OR x.prev_event_id IS NOT DISTINCT FROM v_prev
        ORDER BY x.event_id LIMIT 1;
        RETURN QUERY SELECT v_seen, v_prev, encode(v_prev_hash, 'hex'),
            format('event %s is not on the chain (it names event %s before it; %s of %s events are off the '
                   'chain: rows were removed or inserted)', e.event_id, coalesce(e.prev_event_id::text, 'none'),
                   v_total - v_seen, v_total);
        RETURN;
    END IF;
    RETURN QUERY SELECT v_seen, v_prev, encode(v_prev_hash, 'hex'), NULL::text;
END
$$;

COMMENT ON FUNCTION colcrypt.verify_audit() IS
'Checks the hash chain of colcrypt.migration_events from its first row: every row carries the hash of the row '
'before it and a hash that matches its own content, and every row is on the chain. Returns the number of events '
'checked, the last one and its hash (record it elsewhere to anchor the log) and the first problem (NULL: intact).';
