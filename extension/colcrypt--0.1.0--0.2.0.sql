-- Built by `make build` from sql/ (see sql/upgrades/0.1.0--0.2.0.order). Do not edit.
\echo Use "ALTER EXTENSION colcrypt UPDATE TO '0.2.0'" to load this file. \quit

-- sql/upgrades/0.1.0--0.2.0/event_log_columns.sql
-- The hash chain's columns, appended as a fresh install has them.
ALTER TABLE colcrypt.migration_events
ADD COLUMN prev_event_id bigint,
ADD COLUMN prev_hash bytea,
ADD COLUMN row_hash bytea;

COMMENT ON TABLE colcrypt.migration_events IS
'Append-only log of migration steps: who, when, what, outcome and details; a hash chain (each row''s hash '
'covers its content and the previous row''s hash) that colcrypt.verify_audit() checks, so that an edited, '
'removed or inserted row shows.';

-- sql/functions/event_hash.sql
-- security: INVOKER. Runs as whoever logs a migration step (they insert the event) or verifies the log.
CREATE FUNCTION colcrypt._event_hash(p_event colcrypt.migration_events)
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

-- sql/functions/chain_event.sql
-- security: INVOKER. Runs as whoever logs a migration step.
CREATE FUNCTION colcrypt._chain_event()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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

CREATE TRIGGER colcrypt_chain BEFORE INSERT ON colcrypt.migration_events
FOR EACH ROW EXECUTE FUNCTION colcrypt._chain_event();

-- sql/upgrades/0.1.0--0.2.0/chain_existing_events.sql
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

-- sql/functions/refuse_event_change.sql
-- security: INVOKER. Runs as whoever logs a migration step.
CREATE FUNCTION colcrypt._refuse_event_change()
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

CREATE TRIGGER colcrypt_append_only BEFORE UPDATE OR DELETE ON colcrypt.migration_events
FOR EACH ROW EXECUTE FUNCTION colcrypt._refuse_event_change();
CREATE TRIGGER colcrypt_no_truncate BEFORE TRUNCATE ON colcrypt.migration_events
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._refuse_event_change();

-- sql/functions/verify_audit.sql
-- security: INVOKER. Reads the event log as the caller.
CREATE FUNCTION colcrypt.verify_audit()
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

-- sql/functions/log_key_event.sql
-- security: INVOKER. Runs as whoever changes the keyring (key administration is not granted to PUBLIC).
CREATE FUNCTION colcrypt._log_key_event()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_event text;
    v_detail jsonb;
BEGIN
    IF TG_TABLE_NAME = 'key_grants' THEN
        v_event := CASE TG_OP WHEN 'INSERT' THEN 'key granted' ELSE 'key grant revoked' END;
        v_detail := CASE TG_OP
            WHEN 'INSERT' THEN jsonb_build_object('key_id', NEW.key_id, 'role', NEW.grantee::text)
            ELSE jsonb_build_object('key_id', OLD.key_id, 'role', OLD.grantee::text)
        END;
    ELSIF TG_OP = 'INSERT' THEN
        v_event := 'key version created';
        v_detail := jsonb_build_object('key_id', NEW.key_id, 'version', NEW.version, 'provider', NEW.provider,
                                       'kek_ref', NEW.kek_ref, 'state', NEW.state);
    ELSIF TG_OP = 'DELETE' THEN
        v_event := 'key version removed';
        v_detail := jsonb_build_object('key_id', OLD.key_id, 'version', OLD.version, 'state', OLD.state);
    ELSE
        v_event := CASE WHEN NEW.state IS DISTINCT FROM OLD.state THEN 'key version ' || NEW.state
                        ELSE 'key version rewrapped' END;
        v_detail := jsonb_build_object('key_id', NEW.key_id, 'version', NEW.version, 'state', NEW.state,
                                       'provider', NEW.provider, 'kek_ref', NEW.kek_ref,
                                       'previous_state', OLD.state, 'previous_provider', OLD.provider,
                                       'previous_kek_ref', OLD.kek_ref);
    END IF;
    INSERT INTO colcrypt.migration_events (table_name, event, detail) VALUES ('colcrypt.keyring', v_event, v_detail);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION colcrypt._log_key_event() IS
'Internal: records each change of the keyring (a key version created, rewrapped, retired, destroyed or removed; '
'a grant given or revoked) in colcrypt.migration_events under table_name colcrypt.keyring, without key material.';

CREATE TRIGGER colcrypt_log_key_event
AFTER INSERT OR DELETE OR UPDATE OF state, provider, kek_ref, wrapped_key ON colcrypt.key_versions
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_event AFTER INSERT OR DELETE ON colcrypt.key_grants
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();

-- sql/upgrades/0.1.0--0.2.0/privileges.sql
-- As sql/security.sql leaves them in a fresh install: the new functions are the owner's alone.
REVOKE ALL ON FUNCTION
colcrypt._event_hash(colcrypt.migration_events),
colcrypt._chain_event(),
colcrypt._refuse_event_change(),
colcrypt.verify_audit(),
colcrypt._log_key_event()
FROM public;

-- 0.1.0 left its procedures executable by public (REVOKE ... ON ALL FUNCTIONS does not cover them).
REVOKE ALL ON PROCEDURE
colcrypt.backfill(text, integer, interval, interval, integer, integer, interval, interval),
colcrypt.reencrypt(text, integer, interval, interval)
FROM public;
