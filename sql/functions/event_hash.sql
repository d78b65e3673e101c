-- security: INVOKER. Runs as whoever logs a migration step (they insert the event) or verifies the log.
CREATE OR REPLACE FUNCTION colcrypt._event_hash(p_event colcrypt.migration_events)
RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT sha256(coalesce(p_event.prev_hash, '\x'::bytea) || convert_to(concat_ws(
        E'\x1f', p_event.event_id, p_event.migration_id, p_event.table_name,
        extract(EPOCH FROM p_event.at), p_event.by_role, p_event.event, p_event.outcome,
        p_event.detail::text, p_event.prev_event_id
    ), 'UTF8'))
$$;

COMMENT ON FUNCTION colcrypt._event_hash(colcrypt.migration_events) IS
'Internal: the hash of an event-log row: SHA-256 of the previous row''s hash and the row''s content (its time '
'as epoch seconds, so that no session setting changes it).';
