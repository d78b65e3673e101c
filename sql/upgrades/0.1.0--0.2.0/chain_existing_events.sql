-- Rows logged before the upgrade join the chain in event_id order, before the log becomes append-only.
DO $$
DECLARE
    e colcrypt.migration_events;
    v_prev bigint;
    v_prev_hash bytea;
BEGIN
    LOCK TABLE colcrypt.migration_events IN EXCLUSIVE MODE;
    FOR e IN SELECT * FROM colcrypt.migration_events ORDER BY event_id LOOP
        e.prev_event_id := v_prev;
        e.prev_hash := v_prev_hash;
        e.row_hash := colcrypt._event_hash(e);
        UPDATE colcrypt.migration_events AS m
        SET prev_event_id = e.prev_event_id, prev_hash = e.prev_hash, row_hash = e.row_hash
        WHERE m.event_id = e.event_id;
        v_prev := e.event_id;
        v_prev_hash := e.row_hash;
    END LOOP;
END
$$;
