-- security: INVOKER. Runs as whoever changes the keyring (key administration is not granted to PUBLIC).
CREATE OR REPLACE FUNCTION colcrypt._log_key_event()
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
    IF TG_OP = 'INSERT' THEN  -- BEFORE INSERT: the new row names its event
        IF NEW.logged_as IS NOT NULL THEN
            RETURN NEW;  -- restored from a dump, with the event log that holds its event
        END IF;
        INSERT INTO colcrypt.migration_events (table_name, event, detail)
        VALUES ('colcrypt.keyring', v_event, v_detail) RETURNING event_id INTO NEW.logged_as;
        RETURN NEW;
    END IF;
    INSERT INTO colcrypt.migration_events (table_name, event, detail) VALUES ('colcrypt.keyring', v_event, v_detail);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION colcrypt._log_key_event() IS
'Internal: records each change of the keyring (a key version created, rewrapped, retired, destroyed or removed; '
'a grant given or revoked) in colcrypt.migration_events under table_name colcrypt.keyring, without key material; '
'a new row names its event in logged_as (a restored row, which has one, is not logged again).';
