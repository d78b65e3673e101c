-- Built by `make build` from sql/ (see sql/upgrades/0.2.0--0.2.1.order). Do not edit.
\echo Use "ALTER EXTENSION colcrypt UPDATE TO '0.2.1'" to load this file. \quit

-- sql/upgrades/0.2.0--0.2.1/context_version.sql
-- Values of migrations prepared before 0.2.1 keep their contexts (version 1); new migrations quote the
-- names in theirs (version 2).
ALTER TABLE colcrypt.migrations ADD COLUMN context_version smallint NOT NULL DEFAULT 1;
ALTER TABLE colcrypt.migrations ALTER COLUMN context_version SET DEFAULT 2;
ALTER TABLE colcrypt.migrations ADD CONSTRAINT migrations_context_version_known
CHECK (context_version IN (1, 2));

-- sql/functions/python_path.sql
-- security: INVOKER. It only tells where make install put colcrypt's server-side Python code.
CREATE OR REPLACE FUNCTION colcrypt._python_path()
RETURNS text
LANGUAGE c STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_python_path';

COMMENT ON FUNCTION colcrypt._python_path() IS
'Internal: the directory holding the Python code that colcrypt''s PL/Python functions import: the release '
'make install made current (colcrypt/current, resolved when asked).';

-- sql/functions/as_owner.sql
-- security: INVOKER. It lowers the caller's rights to those of a table's owner for one statement (the C code
-- requires the caller to hold the owner's privileges already, so PUBLIC may execute it: it grants nothing),
-- in a security-restricted operation, as PostgreSQL's VACUUM and CREATE INDEX do.
CREATE OR REPLACE FUNCTION colcrypt._as_owner(p_relation oid, p_sql text)
RETURNS SETOF json
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_as_owner';

COMMENT ON FUNCTION colcrypt._as_owner(oid, text) IS
'Internal: runs one statement of a migration step as the owner of the relation p_relation, in a '
'security-restricted operation, and returns its rows as json; the caller must hold the owner''s privileges.';

-- sql/functions/as_owner_with_args.sql
-- security: INVOKER. colcrypt._as_owner with parameters (see as_owner.sql).
CREATE OR REPLACE FUNCTION colcrypt._as_owner(p_relation oid, p_sql text, VARIADIC p_args "any")
RETURNS SETOF json
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_as_owner';

COMMENT ON FUNCTION colcrypt._as_owner(oid, text, "any") IS
'Internal: colcrypt._as_owner(p_relation, p_sql) with the statement''s parameters $1, $2, ... after them.';

-- sql/functions/statement_count.sql
-- security: INVOKER. It only parses the text it is given.
CREATE OR REPLACE FUNCTION colcrypt._statement_count(p_sql text)
RETURNS integer
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_statement_count';

COMMENT ON FUNCTION colcrypt._statement_count(text) IS
'Internal: how many statements p_sql holds, as the parser sees it; the migration steps run a statement they '
'generate only when it is one.';

-- sql/functions/column_context.sql
-- security: DEFINER. It reads colcrypt.migrations, which only colcrypt's steps may read, to tell anyone who
-- looks rows up by a blind index (an application role) the context of a migrated column; a context is not
-- secret. search_path pinned; it resolves nothing the caller gives it but a regclass.
CREATE OR REPLACE FUNCTION colcrypt.column_context(p_table regclass, p_column text)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE m.context_version
        WHEN 1 THEN m.context_prefix || '.' || p_column
        ELSE m.context_prefix || '."' || pg_catalog.replace(p_column, '"', '""') || '"'  -- always quoted
    END
    FROM colcrypt.migrations AS m
    WHERE (m.source = p_table OR m.name_view = p_table) AND m.state <> 'rolled_back'
      AND p_column = ANY(m.columns)
    ORDER BY m.migration_id DESC
    LIMIT 1
$$;

COMMENT ON FUNCTION colcrypt.column_context(regclass, text) IS
'The context of column p_column of the migrated table p_table (its name, before or after the cutover): what '
'colcrypt.blind_index takes for equality lookups on a blind index, e.g. WHERE email_bidx = '
'colcrypt.blind_index($1, key, colcrypt.column_context(''crm.customers'', ''email'')); a value''s context adds '
'''#'' and the row''s key. NULL when the column is not migrated.';

-- sql/functions/add_key.sql
-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) add keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.add_key(
    p_key_id text,
    p_version integer,
    p_provider text,
    p_kek_ref text,
    p_wrapped_key bytea,
    p_kcv bytea
)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_counter text := format('key_counter_%s_v%s', left(md5(p_key_id), 16), p_version);
BEGIN
    IF p_key_id IS NULL OR p_key_id !~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'KC008',
            MESSAGE = format('colcrypt: %L is not a valid key id', p_key_id),
            HINT = 'A key id is 1 to 128 characters: letters, digits and . _ : / -, starting with a letter or digit.';
    END IF;
    IF EXISTS (
        SELECT 1 FROM colcrypt.key_versions AS k
        WHERE k.key_id = p_key_id AND k.version = p_version
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC011',
            MESSAGE = format('colcrypt: key %s version %s already exists', p_key_id, p_version),
            HINT = 'Choose another key id, or rotate the key to make a new version.';
    END IF;
    EXECUTE format('CREATE SEQUENCE colcrypt.%I INCREMENT BY 256 MINVALUE 0 START WITH 256', v_counter);
    EXECUTE format('GRANT SELECT ON SEQUENCE colcrypt.%I TO PUBLIC', v_counter);
    INSERT INTO colcrypt.key_versions (key_id, version, provider, kek_ref, wrapped_key, kcv, counter)
    VALUES (
        p_key_id, p_version, p_provider, p_kek_ref, p_wrapped_key, p_kcv,
        format('colcrypt.%I', v_counter)::regclass
    );
END
$$;

COMMENT ON FUNCTION colcrypt.add_key(text, integer, text, text, bytea, bytea) IS
'Adds a wrapped data-key version to the keyring, with its encryption-counter sequence. '
'Called by colcrypt keys create, which generates and wraps the key outside the database.';

-- sql/functions/grant_key.sql
-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) grant keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.grant_key(p_key_id text, p_role text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_role regrole := pg_catalog.to_regrole(p_role);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %L is not in colcrypt.keyring', p_key_id),
            HINT = 'Create it first: colcrypt keys create KEY_ID. List keys with SELECT key_id FROM colcrypt.keyring.';
    END IF;
    IF v_role IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = format('colcrypt: role %L does not exist', p_role),
            HINT = 'Create the role first, or check the spelling (role names are case-sensitive when quoted).';
    END IF;
    IF EXISTS (SELECT FROM colcrypt.key_grants AS g WHERE g.key_id = p_key_id AND g.grantee = v_role) THEN
        RETURN;  -- granted already: nothing to log
    END IF;
    INSERT INTO colcrypt.key_grants (key_id, grantee) VALUES (p_key_id, v_role)
    ON CONFLICT (key_id, grantee) DO NOTHING;
END
$$;

COMMENT ON FUNCTION colcrypt.grant_key(text, text) IS
'Lets sessions of p_role (and of its members) have key p_key_id unwrapped server-side on first use. '
'Needs colcrypt.kek_file (or another provider) configured by a superuser. Idempotent.';

-- sql/functions/revoke_key.sql
-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) revoke grants, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.revoke_key(p_key_id text, p_role text)
RETURNS boolean
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH revoked AS (
        DELETE FROM colcrypt.key_grants AS g
        WHERE g.key_id = p_key_id AND g.grantee = pg_catalog.to_regrole(p_role)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM revoked)
$$;

COMMENT ON FUNCTION colcrypt.revoke_key(text, text) IS
'Removes the grant of key p_key_id to p_role; returns whether there was one. '
'Sessions of p_role that hold the key unwrapped server-side lose it at their next use of it.';

-- sql/functions/rotate_key.sql
-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) rotate keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.rotate_key(
    p_key_id text,
    p_version integer,
    p_provider text,
    p_kek_ref text,
    p_wrapped_key bytea,
    p_kcv bytea
)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_last integer;
BEGIN
    PERFORM FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id FOR UPDATE;
    SELECT max(k.version) INTO v_last FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id;
    IF v_last IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s is not in colcrypt.keyring', p_key_id),
            HINT = 'Create it first: colcrypt keys create.';
    END IF;
    IF p_version IS DISTINCT FROM v_last + 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'KC011',
            MESSAGE = format('colcrypt: key %s is at version %s, so its next version is %s, not %s', p_key_id,
                             v_last, v_last + 1, p_version),
            HINT = 'Another rotation ran meanwhile; run colcrypt keys rotate again.';
    END IF;
    UPDATE colcrypt.key_versions AS k SET state = 'retired', state_changed_at = pg_catalog.now()
    WHERE k.key_id = p_key_id AND k.state = 'active';
    PERFORM colcrypt.add_key(p_key_id, p_version, p_provider, p_kek_ref, p_wrapped_key, p_kcv);
END
$$;

COMMENT ON FUNCTION colcrypt.rotate_key(text, integer, text, text, bytea, bytea) IS
'Data-key rotation: adds version p_version (the next one) of p_key_id, wrapped outside the database, as the '
'active version; the previous active version becomes retired (values under it still decrypt). Sessions that '
'load the key from then on encrypt with the new version; CALL colcrypt.reencrypt(table) moves existing values. '
'Called by colcrypt keys rotate.';

-- sql/functions/rewrap_key.sql
-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) rewrap keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.rewrap_key(
    p_key_id text,
    p_version integer,
    p_provider text,
    p_kek_ref text,
    p_wrapped_key bytea,
    p_kcv bytea
)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row colcrypt.key_versions%ROWTYPE;
BEGIN
    SELECT * INTO v_row FROM colcrypt.key_versions AS k
    WHERE k.key_id = p_key_id AND k.version = p_version
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s version %s is not in colcrypt.keyring', p_key_id, p_version),
            HINT = 'See SELECT key_id, version FROM colcrypt.keyring.';
    END IF;
    IF v_row.state = 'destroyed' THEN
        RAISE EXCEPTION USING ERRCODE = 'KC007',
            MESSAGE = format('colcrypt: key %s version %s was destroyed', p_key_id, p_version),
            HINT = 'A destroyed key cannot be rewrapped.';
    END IF;
    IF p_kcv IS DISTINCT FROM v_row.kcv THEN
        RAISE EXCEPTION USING ERRCODE = 'KC005',
            MESSAGE = format('colcrypt: the new wrapping of key %s version %s holds another data key', p_key_id,
                             p_version),
            HINT = 'Rewrapping changes only the KEK; unwrap the key with its current KEK and wrap that same key.';
    END IF;
    IF p_provider IS NULL OR p_kek_ref IS NULL OR p_wrapped_key IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC008',
            MESSAGE = format('colcrypt: rewrap of key %s needs a provider, a KEK reference and the wrapped key',
                             p_key_id),
            HINT = 'Use colcrypt keys rewrap, which supplies them.';
    END IF;
    UPDATE colcrypt.key_versions AS k
    SET provider = p_provider, kek_ref = p_kek_ref, wrapped_key = p_wrapped_key
    WHERE k.key_id = p_key_id AND k.version = p_version;
END
$$;

COMMENT ON FUNCTION colcrypt.rewrap_key(text, integer, text, text, bytea, bytea) IS
'KEK rotation of one data-key version: replaces its provider, KEK reference and wrapped form, after checking '
'that the new wrapping holds the same data key (its key check value). No value is re-encrypted. Called by '
'colcrypt keys rewrap, which unwraps with the old KEK and wraps with the new one outside the database.';

-- sql/functions/destroy_key.sql
-- security: DEFINER. Key administrators (members of colcrypt_key_admin, or roles granted EXECUTE; it is
-- revoked from PUBLIC) destroy keys, without rights of their own on colcrypt's tables. It touches nothing but
-- colcrypt's keyring (search_path pinned); the event log records the session_user.
CREATE OR REPLACE FUNCTION colcrypt.destroy_key(p_key_id text, p_version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    IF NOT EXISTS (SELECT FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s is not in colcrypt.keyring', p_key_id),
            HINT = 'See SELECT key_id, version, state FROM colcrypt.keyring.';
    END IF;
    IF p_version IS NOT NULL AND NOT EXISTS (
        SELECT FROM colcrypt.key_versions AS k WHERE k.key_id = p_key_id AND k.version = p_version
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC004',
            MESSAGE = format('colcrypt: key %s has no version %s', p_key_id, p_version),
            HINT = 'See SELECT key_id, version, state FROM colcrypt.keyring.';
    END IF;
    UPDATE colcrypt.key_versions AS k
    SET state = 'destroyed', state_changed_at = pg_catalog.now(), wrapped_key = '\x'::bytea
    WHERE k.key_id = p_key_id AND (p_version IS NULL OR k.version = p_version) AND k.state <> 'destroyed';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM colcrypt.forget_keys();
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION colcrypt.destroy_key(text, integer) IS
'Crypto-shredding: destroys every version of p_key_id (or only p_version) — the wrapped data key is erased '
'from the keyring, so no KEK can recover it, and values encrypted under it can never be decrypted again (KC007). '
'Backends that hold the key drop it at their next use of it (colcrypt._keyring_changed); this session forgets '
'its keys at once. Irreversible: backups of the keyring taken before still hold the wrapped key. '
'Returns the number of versions destroyed.';

-- sql/functions/chain_event.sql
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

-- sql/functions/log_key_event.sql
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

-- sql/upgrades/0.2.0--0.2.1/keyring_log.sql
-- A keyring row names the event that logged its creation (logged_as), so that a restore from a dump logs
-- nothing twice; the triggers are made again (sql/triggers/keyring.sql follows). Rows made before the
-- events were logged (0.1.0) are logged now, as recorded.
ALTER TABLE colcrypt.key_versions ADD COLUMN logged_as bigint;
ALTER TABLE colcrypt.key_grants ADD COLUMN logged_as bigint;
ALTER TABLE colcrypt.key_versions ALTER COLUMN created_by SET DEFAULT session_user;
ALTER TABLE colcrypt.key_grants ALTER COLUMN granted_by SET DEFAULT session_user;

DROP TRIGGER colcrypt_log_key_event ON colcrypt.key_versions;
DROP TRIGGER colcrypt_log_key_event ON colcrypt.key_grants;
DROP TRIGGER colcrypt_keyring_changed ON colcrypt.key_versions;
DROP TRIGGER colcrypt_keyring_changed ON colcrypt.key_grants;

UPDATE colcrypt.key_versions AS k SET logged_as = e.event_id
FROM (
    SELECT DISTINCT ON (e.detail ->> 'key_id', e.detail ->> 'version')
        e.event_id,
        e.detail ->> 'key_id' AS key_id,
        (e.detail ->> 'version')::integer AS version
    FROM colcrypt.migration_events AS e
    WHERE e.table_name = 'colcrypt.keyring' AND e.event = 'key version created'
    ORDER BY e.detail ->> 'key_id', e.detail ->> 'version', e.event_id DESC
) AS e
WHERE k.key_id = e.key_id AND k.version = e.version;

UPDATE colcrypt.key_grants AS g SET logged_as = e.event_id
FROM (
    SELECT DISTINCT ON (e.detail ->> 'key_id', e.detail ->> 'role')
        e.event_id,
        e.detail ->> 'key_id' AS key_id,
        e.detail ->> 'role' AS role_name
    FROM colcrypt.migration_events AS e
    WHERE e.table_name = 'colcrypt.keyring' AND e.event = 'key granted'
    ORDER BY e.detail ->> 'key_id', e.detail ->> 'role', e.event_id DESC
) AS e
WHERE g.key_id = e.key_id AND g.grantee::text = e.role_name;

WITH logged AS (
    INSERT INTO colcrypt.migration_events (table_name, event, detail)
    SELECT
        'colcrypt.keyring' AS table_name,
        'key version recorded' AS event,
        pg_catalog.jsonb_build_object(
            'key_id', k.key_id, 'version', k.version, 'provider', k.provider, 'kek_ref', k.kek_ref,
            'state', k.state, 'created_at', k.created_at
        ) AS detail
    FROM colcrypt.key_versions AS k
    WHERE k.logged_as IS NULL
    ORDER BY k.key_id, k.version
    RETURNING event_id, detail
)

UPDATE colcrypt.key_versions AS k SET logged_as = l.event_id
FROM logged AS l
WHERE k.key_id = l.detail ->> 'key_id' AND k.version = (l.detail ->> 'version')::integer;

WITH logged AS (
    INSERT INTO colcrypt.migration_events (table_name, event, detail)
    SELECT
        'colcrypt.keyring' AS table_name,
        'key grant recorded' AS event,
        pg_catalog.jsonb_build_object('key_id', g.key_id, 'role', g.grantee::text, 'granted_at', g.granted_at) AS detail
    FROM colcrypt.key_grants AS g
    WHERE g.logged_as IS NULL
    ORDER BY g.key_id, g.grantee::text
    RETURNING event_id, detail
)

UPDATE colcrypt.key_grants AS g SET logged_as = l.event_id
FROM logged AS l
WHERE g.key_id = l.detail ->> 'key_id' AND g.grantee::text = l.detail ->> 'role';

-- sql/triggers/keyring.sql
-- Every change of the keyring and of the grants is logged, and reaches running sessions.
CREATE TRIGGER colcrypt_log_key_event
AFTER DELETE OR UPDATE OF state, provider, kek_ref, wrapped_key ON colcrypt.key_versions
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_event AFTER DELETE ON colcrypt.key_grants
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_creation BEFORE INSERT ON colcrypt.key_versions
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();
CREATE TRIGGER colcrypt_log_key_creation BEFORE INSERT ON colcrypt.key_grants
FOR EACH ROW EXECUTE FUNCTION colcrypt._log_key_event();

CREATE TRIGGER colcrypt_keyring_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON colcrypt.key_versions
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._keyring_changed();
CREATE TRIGGER colcrypt_keyring_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON colcrypt.key_grants
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._keyring_changed();

-- sql/functions/ddl_refusal.sql
-- security: INVOKER. It only reads the command it is given.
CREATE OR REPLACE FUNCTION colcrypt._ddl_refusal(p_command pg_ddl_command)
RETURNS text
LANGUAGE c STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_ddl_refusal';

COMMENT ON FUNCTION colcrypt._ddl_refusal(pg_ddl_command) IS
'Internal: NULL, or the part of a collected ALTER TABLE (or VIEW) command that would break a migration of the '
'relation it changes (columns, names, schema, identity, partitions, inheritance, colcrypt''s triggers).';

-- sql/functions/guard_ddl.sql
-- security: DEFINER. Every role's ALTER TABLE and DROP TABLE fires it, and it reads colcrypt.migrations, which
-- only colcrypt's steps may read; it runs nothing but its own catalog queries (search_path pinned, operators
-- qualified), so that no object another role can create is ever resolved in it.
CREATE OR REPLACE FUNCTION colcrypt._guard_ddl()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table text;
    v_change text;
BEGIN
    IF pg_catalog.current_setting('colcrypt.allow_ddl', TRUE) OPERATOR(pg_catalog.=) 'on'
       OR NOT EXISTS (SELECT FROM colcrypt.migrations AS m
                      WHERE m.state OPERATOR(pg_catalog.<>) ALL (ARRAY['cleaned', 'rolled_back'])) THEN
        RETURN;
    END IF;
    IF TG_EVENT OPERATOR(pg_catalog.=) 'sql_drop' THEN
        SELECT m.table_name, pg_catalog.format('DROP of %s', d.object_identity) INTO v_table, v_change
        FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
        JOIN colcrypt.migrations AS m
            ON d.objid OPERATOR(pg_catalog.=) ANY (ARRAY[m.source::pg_catalog.oid, m.shadow::pg_catalog.oid,
                                                         m.name_view::pg_catalog.oid])
        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.objsubid OPERATOR(pg_catalog.=) 0
          AND m.state OPERATOR(pg_catalog.<>) ALL (ARRAY['cleaned', 'rolled_back'])
        LIMIT 1;
    ELSE
        SELECT m.table_name, pg_catalog.format('%s (%s)', r.refusal, c.object_identity)
        INTO v_table, v_change
        FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
        CROSS JOIN LATERAL (SELECT colcrypt._ddl_refusal(c.command) AS refusal) AS r
        JOIN colcrypt.migrations AS m
            ON c.objid OPERATOR(pg_catalog.=) ANY (ARRAY[m.source::pg_catalog.oid, m.shadow::pg_catalog.oid,
                                                         m.name_view::pg_catalog.oid])
        WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
          AND m.state OPERATOR(pg_catalog.<>) ALL (ARRAY['cleaned', 'rolled_back'])
          AND r.refusal IS NOT NULL
          -- finalize disables colcrypt's triggers on the plaintext table (a restore disables them again)
          AND NOT (r.refusal OPERATOR(pg_catalog.=) 'DISABLE TRIGGER (of colcrypt)'
                   AND m.state OPERATOR(pg_catalog.=) 'finalized')
        LIMIT 1;
    END IF;
    IF v_table IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC020',
            MESSAGE = pg_catalog.format('colcrypt: %s is being migrated, so %s is refused', v_table, v_change),
            HINT = 'It would break the dual-write triggers and with them the application''s writes (adding '
                   'constraints and indexes, changing the owner, statistics or options is fine). Finish or roll '
                   'back the migration first (colcrypt.rollback), or SET LOCAL colcrypt.allow_ddl = on if you '
                   'know what the triggers need.';
    END IF;
END
$$;

COMMENT ON FUNCTION colcrypt._guard_ddl() IS
'Event trigger function: refuses what would break a live migration on the table being migrated, its shadow table '
'or the view that holds its name after cutover (DROP, and ALTER that changes columns, names, schema, identity, '
'partitions, inheritance or colcrypt''s triggers: colcrypt._ddl_refusal), unless colcrypt.allow_ddl is on for '
'the transaction. Constraints, indexes, owners, statistics and options may change.';

-- sql/upgrades/0.2.0--0.2.1/event_trigger_comments.sql
COMMENT ON EVENT TRIGGER colcrypt_guard_alter IS
'colcrypt: refuses the ALTER TABLE (or VIEW) that would break a live migration of the table, its shadow table or '
'its name (see colcrypt._guard_ddl).';

-- sql/comments/columns.sql
-- Comments on the columns of colcrypt's tables and views (docs/reference.md is generated from them).
-- Load after sql/tables/ and sql/views/. key_versions.kcv and key_versions.counter are commented in their file.

-- colcrypt.key_versions

COMMENT ON COLUMN colcrypt.key_versions.key_id IS
'The key''s name, shared by all its versions: 1 to 128 letters, digits and . _ : / -, starting with a letter '
'or digit. Functions take it as p_key_id, and every value encrypted under the key carries it in its envelope.';
COMMENT ON COLUMN colcrypt.key_versions.version IS
'Version of the data key, from 1: colcrypt keys create makes version 1, each rotation (colcrypt.rotate_key) the '
'next. Every encrypted value records the version it was encrypted under.';
COMMENT ON COLUMN colcrypt.key_versions.provider IS
'Where the KEK that wraps this version lives: local (a KEK file), pkcs11 (an HSM) or aws-kms (AWS KMS). '
'Changed only by colcrypt.rewrap_key.';
COMMENT ON COLUMN colcrypt.key_versions.kek_ref IS
'Which KEK wraps this version, as its provider names it: local: followed by 16 hex digits identifying the KEK '
'file''s key, a pkcs11: URI, or the KMS key''s ARN. A name, never the KEK; changed only by colcrypt.rewrap_key.';
COMMENT ON COLUMN colcrypt.key_versions.wrapped_key IS
'The data key wrapped (encrypted) by the KEK named by kek_ref, bound to key_id and version; the data key itself '
'is never stored. Replaced by colcrypt.rewrap_key; empty once the version is destroyed (colcrypt.destroy_key).';
COMMENT ON COLUMN colcrypt.key_versions.state IS
'active: encrypts new values and decrypts (at most one version per key); retired: decrypts only, set by a '
'rotation; destroyed: the wrapped key is erased, so values under this version can never be decrypted again.';
COMMENT ON COLUMN colcrypt.key_versions.created_at IS
'When the version was added (transaction start of colcrypt.add_key, or of colcrypt.rotate_key).';
COMMENT ON COLUMN colcrypt.key_versions.created_by IS
'The role that added the version: the session_user of colcrypt.add_key (run by colcrypt keys create or rotate), '
'the role that logged in, whatever role it had set (0.2.0 recorded the current_user).';
COMMENT ON COLUMN colcrypt.key_versions.state_changed_at IS
'When state last changed (transaction start): created_at until a rotation retires the version or '
'colcrypt.destroy_key destroys it. A rewrap leaves it as it is.';
COMMENT ON COLUMN colcrypt.key_versions.logged_as IS
'The event of colcrypt.migration_events that logged the version''s creation. A row restored from a dump brings '
'it along, so that restoring logs nothing twice.';

-- colcrypt.key_grants

COMMENT ON COLUMN colcrypt.key_grants.key_id IS
'The key granted, every version of it. colcrypt.grant_key checks that it is in the keyring (there is no '
'foreign key); destroying the key leaves the grant in place.';
COMMENT ON COLUMN colcrypt.key_grants.grantee IS
'The role granted the key: its sessions, and those of its members (pg_has_role MEMBER), may have the key '
'unwrapped server-side on first use.';
COMMENT ON COLUMN colcrypt.key_grants.granted_by IS
'The role that ran colcrypt.grant_key (its session_user; 0.2.0 recorded the current_user). Granting the key '
'again keeps the first grant''s row.';
COMMENT ON COLUMN colcrypt.key_grants.granted_at IS
'When the key was granted (transaction start of colcrypt.grant_key).';
COMMENT ON COLUMN colcrypt.key_grants.logged_as IS
'The event of colcrypt.migration_events that logged the grant. A row restored from a dump brings it along, so '
'that restoring logs nothing twice.';

-- colcrypt.discovery_runs

COMMENT ON COLUMN colcrypt.discovery_runs.run_id IS
'Number of the run; colcrypt.discovery_findings.run_id refers to it.';
COMMENT ON COLUMN colcrypt.discovery_runs.schemas IS
'The schemas scanned (p_schemas of colcrypt.discover). NULL: every user schema, that is all but pg_catalog, '
'information_schema, colcrypt, pg_toast and temporary schemas.';
COMMENT ON COLUMN colcrypt.discovery_runs.sample_size IS
'The sample asked for, in rows per table (p_sample_size, at least 100, default 2000); tables of up to 20,000 '
'estimated rows are read whole instead.';
COMMENT ON COLUMN colcrypt.discovery_runs.run_by IS
'The role that ran colcrypt.discover (current_user); the run sees only the tables that role may read.';
COMMENT ON COLUMN colcrypt.discovery_runs.started_at IS
'When the run started (clock time).';
COMMENT ON COLUMN colcrypt.discovery_runs.finished_at IS
'When the run finished (clock time). NULL while it runs; the run commits with its findings, so a run that '
'fails leaves no row.';
COMMENT ON COLUMN colcrypt.discovery_runs.skipped IS
'JSON array of what the run did not judge, each {"table", "column" (for one column), "error"}: a table it could '
'not read (the error''s first line, e.g. a lock timeout), a classifier failure, or a sparse column not sampled '
'again because p_table_budget was spent.';

-- colcrypt.discovery_findings

COMMENT ON COLUMN colcrypt.discovery_findings.run_id IS
'The run that made the finding (colcrypt.discovery_runs); deleting the run deletes its findings.';
COMMENT ON COLUMN colcrypt.discovery_findings.schema_name IS
'Schema of the table.';
COMMENT ON COLUMN colcrypt.discovery_findings.table_name IS
'The table or materialized view; a partitioned table is scanned and named as its parent, never its partitions.';
COMMENT ON COLUMN colcrypt.discovery_findings.column_name IS
'The column judged sensitive. Columns judged not sensitive have no row.';
COMMENT ON COLUMN colcrypt.discovery_findings.data_type IS
'The column''s declared type as format_type prints it, e.g. character varying(20).';
COMMENT ON COLUMN colcrypt.discovery_findings.classification IS
'What the column holds: ssn, credit_card, email, phone, iban, ip_address, date_of_birth, passport, '
'driver_license or bank_account.';
COMMENT ON COLUMN colcrypt.discovery_findings.confidence IS
'How sure the finding is, 0 to 1: for whole values the 95% Wilson lower bound of match_ratio, plus 0.1 when the '
'name agrees (0.9 for dates under a birth-date name); embedded: 0.5 plus the ratio, at most 0.9; shape and name '
'without a checksum: 0.6; a name alone: 0.3.';
COMMENT ON COLUMN colcrypt.discovery_findings.match_ratio IS
'Share, 0 to 1, of the judged values that are of the classification (embedded: that hold one inside free text); '
'0 when no value was sampled.';
COMMENT ON COLUMN colcrypt.discovery_findings.sample_size IS
'Values of this column that were judged: the non-NULL, non-blank ones of the rows read, so not the run''s '
'sample_size (fewer, or more for a table read whole); 0 when the finding rests on the name alone.';
COMMENT ON COLUMN colcrypt.discovery_findings.estimated_rows IS
'The table''s estimated row count when it was scanned: pg_class.reltuples, summed over partitions; a table '
'never analyzed is guessed at 60 rows per page.';
COMMENT ON COLUMN colcrypt.discovery_findings.match_kind IS
'whole: the values are the sensitive data; embedded: it occurs inside free text; name: the column''s name says '
'so, with no values sampled, or with values of the right shape but no checksum (passport, licence, bank account).';
COMMENT ON COLUMN colcrypt.discovery_findings.reason IS
'Why, as JSON: name_hint (what the name suggests), match counts, the Wilson bound, luhn_lift for cards, a note, '
'and up to three masked examples (shape kept, content hidden, e.g. ***-**-*789); never an unmasked value.';

-- colcrypt.baselines

COMMENT ON COLUMN colcrypt.baselines.label IS
'The baseline''s name, chosen by whoever captures it (p_label), e.g. ''before encryption''; comparisons name it.';
COMMENT ON COLUMN colcrypt.baselines.captured_at IS
'When the measuring window ended and the baseline was stored (clock time); renewed by a capture with p_replace.';
COMMENT ON COLUMN colcrypt.baselines.captured_by IS
'The role that ran colcrypt.capture_baseline (current_user).';
COMMENT ON COLUMN colcrypt.baselines.window_s IS
'Length of the measured window in seconds, from the first snapshot to the last (p_duration, or since p_start).';
COMMENT ON COLUMN colcrypt.baselines.metrics IS
'The metrics as a JSON object: transactions, tps, latency_mean_ms and latency_p50/p95/p99_ms (ms) with '
'latency_source, cpu_s_per_s, cpu_ms_per_transaction, IO rates per second and more; a metric not measured is absent.';
COMMENT ON COLUMN colcrypt.baselines.thresholds IS
'Limits that comparisons apply, in percent: {"latency": rise, "throughput": drop (0 or negative), "cpu": rise of '
'CPU per transaction}; the defaults 10, -10 and 15 with p_thresholds over them.';
COMMENT ON COLUMN colcrypt.baselines.notes IS
'How the metrics were obtained and what limits them (no pg_stat_statements, too few transactions, a short '
'window, ...), as also raised in NOTICEs; empty when there is nothing to say.';

-- colcrypt.baseline_comparisons

COMMENT ON COLUMN colcrypt.baseline_comparisons.comparison_id IS
'Number of the comparison, which colcrypt.compare_baseline returns with its rows.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.label IS
'The baseline compared with (colcrypt.baselines); renaming or deleting the baseline renames or deletes its '
'comparisons.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.compared_at IS
'When the measuring window ended and the comparison was stored (clock time).';
COMMENT ON COLUMN colcrypt.baseline_comparisons.compared_by IS
'The role that ran colcrypt.compare_baseline (current_user).';
COMMENT ON COLUMN colcrypt.baseline_comparisons.current_metrics IS
'The metrics measured for this comparison, shaped like colcrypt.baselines.metrics.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.thresholds IS
'The limits applied, in percent: the baseline''s thresholds with this call''s p_thresholds over them.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.results IS
'JSON array, one object per metric: metric, baseline, current, change_pct, limit_pct, passed (NULL: '
'informational, not measured in both windows, or too little load to judge) and recommendation.';
COMMENT ON COLUMN colcrypt.baseline_comparisons.notes IS
'How the current metrics were obtained and what limits them, as in colcrypt.baselines.notes.';

-- colcrypt.migrations

COMMENT ON COLUMN colcrypt.migrations.migration_id IS
'Number of the migration; the functions generated for it (colcrypt.dual_write_<id>, truncate_<id>, '
'instead_<id>) and its pg_cron jobs (colcrypt-backfill-<id>-<worker>, ...) carry it.';
COMMENT ON COLUMN colcrypt.migrations.table_name IS
'The table as named to colcrypt.prepare: p_table as written (not normalized), the name applications use, e.g. '
'crm.customers. Events, validations and colcrypt.progress repeat it.';
COMMENT ON COLUMN colcrypt.migrations.source IS
'The plaintext table: the table itself until the read cutover renames it <table>_plaintext. Cleanup drops it; '
'the column then holds the OID of a table that no longer exists.';
COMMENT ON COLUMN colcrypt.migrations.shadow IS
'The shadow table <table>_encrypted that prepare creates, the table of record from finalize on. Rollback drops '
'it; the column then holds the OID of a table that no longer exists.';
COMMENT ON COLUMN colcrypt.migrations.name_view IS
'The view that holds the table''s name from the read cutover on, decrypting the shadow; it stays after cleanup. '
'NULL before the read cutover and after a rollback.';
COMMENT ON COLUMN colcrypt.migrations.columns IS
'The encrypted columns, as named to prepare; the shadow holds each as <column>_encrypted (bytea).';
COMMENT ON COLUMN colcrypt.migrations.blind_index IS
'Those of the encrypted columns that also have a blind index for equality lookups, <column>_bidx in the shadow; '
'empty: none.';
COMMENT ON COLUMN colcrypt.migrations.key_columns IS
'The columns rows are found by: the primary key, else the narrowest unique index on NOT NULL columns. They stay '
'in plaintext, and each encrypted value''s context includes the row''s key.';
COMMENT ON COLUMN colcrypt.migrations.key_types IS
'The key columns'' types at prepare, as format_type prints them, in the order of key_columns. A record only: '
'the casts of keys kept as text[] take the types from the catalog.';
COMMENT ON COLUMN colcrypt.migrations.key_id IS
'The key (in colcrypt.keyring) whose active version encrypts the columns; after a rotation, '
'CALL colcrypt.reencrypt moves existing values to the new version.';
COMMENT ON COLUMN colcrypt.migrations.context_prefix IS
'The table as it was at prepare, fixed for good: "schema"."table" (context_version 2; schema.table, unquoted, in '
'version 1). A value''s context is context_prefix || ''.'' || the column || ''#'' || the row''s key as text; a blind '
'index''s is context_prefix || ''.'' || the column.';
COMMENT ON COLUMN colcrypt.migrations.context_version IS
'How the column enters the context: 2, quoted like an identifier ("ssn"), so that no two columns of two tables share '
'a context; 1, as it is (migrations prepared before 0.2.1, whose values keep their contexts).';
COMMENT ON COLUMN colcrypt.migrations.upper_key IS
'The greatest key when the first CALL colcrypt.backfill made the ranges (text[], in key_columns order): the '
'backfill copies the rows up to it; the triggers copy what is written since. NULL before, or if the table was empty.';
COMMENT ON COLUMN colcrypt.migrations.rows_total IS
'Rows with a key up to upper_key, counted when the ranges were made: the backfill''s total in colcrypt.progress. '
'NULL before the first CALL colcrypt.backfill.';
COMMENT ON COLUMN colcrypt.migrations.state IS
'dual_write: prepared, the triggers copy every write to the shadow; backfilling: the backfill has started; '
'backfilled: every range is copied; validated: a full validation found no difference; cutover_reads: the name '
'is a view reading the shadow, writes go on to the plaintext table; cutover_writes: writes go to the shadow '
'first; finalized: the shadow is the table of record, the plaintext table kept without grants; cleaned: the '
'plaintext table is dropped; rolled_back: undone, the shadow dropped. planned is allowed but never set.';
COMMENT ON COLUMN colcrypt.migrations.paused IS
'True from colcrypt.pause to colcrypt.resume: backfill workers stop before their next batch (the triggers keep '
'capturing writes).';
COMMENT ON COLUMN colcrypt.migrations.pause_reason IS
'p_reason of colcrypt.pause; NULL when not paused or when no reason was given.';
COMMENT ON COLUMN colcrypt.migrations.created_at IS
'When colcrypt.prepare recorded the migration (clock time).';
COMMENT ON COLUMN colcrypt.migrations.created_by IS
'The role that ran colcrypt.prepare (current_user): it owns the shadow table and the generated SECURITY DEFINER '
'trigger functions, which encrypt with its access to the key.';
COMMENT ON COLUMN colcrypt.migrations.state_changed_at IS
'When state last changed (clock time); created_at until the first change. Cleanup counts p_retain from it, '
'that is from finalize.';

-- colcrypt.backfill_ranges

COMMENT ON COLUMN colcrypt.backfill_ranges.migration_id IS
'The migration whose backfill this is; deleting the migration deletes its ranges.';
COMMENT ON COLUMN colcrypt.backfill_ranges.worker IS
'The worker, 1 to p_workers, that copies this range: CALL colcrypt.backfill(..., p_worker => worker). The first '
'call fixes the number of workers.';
COMMENT ON COLUMN colcrypt.backfill_ranges.lower_key IS
'Exclusive lower bound of the range, as text[] in the order of migrations.key_columns; NULL: from the first key '
'(worker 1).';
COMMENT ON COLUMN colcrypt.backfill_ranges.upper_key IS
'Inclusive upper bound of the range (text[]); the last worker''s is migrations.upper_key. Equal to lower_key for '
'an empty range (too few distinct keys for all workers); NULL when the table was empty.';
COMMENT ON COLUMN colcrypt.backfill_ranges.checkpoint IS
'The last key copied (text[]), committed with its batch: the next batch starts after it. Starts as lower_key, '
'so NULL means nothing is copied yet in worker 1''s range.';
COMMENT ON COLUMN colcrypt.backfill_ranges.rows_done IS
'Rows of the range that the batches have read and locked, whether they copied them or found them already '
'written by the triggers.';
COMMENT ON COLUMN colcrypt.backfill_ranges.batches IS
'Batches committed.';
COMMENT ON COLUMN colcrypt.backfill_ranges.batch_size IS
'Rows in the last batch (50 to 50,000), or the halved size after a lock conflict; a later call goes on from it '
'once a batch has committed. 1000 (the default) until then, whatever p_batch_size is.';
COMMENT ON COLUMN colcrypt.backfill_ranges.done IS
'True once the range is copied (a batch reached upper_key or found no more rows), or from the start for an empty '
'range; the last worker done moves the migration to backfilled.';
COMMENT ON COLUMN colcrypt.backfill_ranges.started_at IS
'When a backfill call first worked on the range (clock time); NULL: not yet, or never for a range empty from '
'the start.';
COMMENT ON COLUMN colcrypt.backfill_ranges.last_batch_at IS
'When the last successful batch was recorded (clock time); NULL: none yet. colcrypt.progress counts a worker '
'active when this is less than a minute old.';
COMMENT ON COLUMN colcrypt.backfill_ranges.last_batch_ms IS
'How long the last successful batch took, in ms; NULL: none yet.';
COMMENT ON COLUMN colcrypt.backfill_ranges.busy_ms IS
'Time spent in successful batches, in ms, without sleeps, pauses, lag waits and given-way batches: '
'colcrypt.progress.rows_per_s divides rows_done by it.';
COMMENT ON COLUMN colcrypt.backfill_ranges.retries IS
'Batches that gave way and were retried smaller: a lock wait over 100 ms, a deadlock, a serialization failure, '
'or a unique violation because a trigger wrote a row first.';
COMMENT ON COLUMN colcrypt.backfill_ranges.throttled IS
'Why the worker is held back or stopped: paused: <reason>, replication lag over p_max_lag, lock conflict '
'(retrying with fewer rows), or the migration''s state once it is no longer backfilling. NULL after a successful '
'batch and at the start of each call.';
COMMENT ON COLUMN colcrypt.backfill_ranges.last_error IS
'First line (at most 500 characters) of the last error that stopped the worker, other than a conflict it gave '
'way to; NULL again after its next successful batch.';

-- colcrypt.migration_events

COMMENT ON COLUMN colcrypt.migration_events.event_id IS
'Number of the event, in the order of logging (the hash chain follows prev_event_id).';
COMMENT ON COLUMN colcrypt.migration_events.migration_id IS
'The migration the event belongs to; NULL for changes of the keyring and its grants (table_name '
'colcrypt.keyring).';
COMMENT ON COLUMN colcrypt.migration_events.table_name IS
'The migration''s table_name, or colcrypt.keyring for a key version created, rewrapped, retired, destroyed or '
'removed, and a key granted or revoked.';
COMMENT ON COLUMN colcrypt.migration_events.at IS
'When the event was logged (clock time).';
COMMENT ON COLUMN colcrypt.migration_events.by_role IS
'session_user of the session that logged it: the role that logged in (a pg_cron job''s role for its runs), '
'unchanged by SET ROLE, unlike the current_user that other tables record.';
COMMENT ON COLUMN colcrypt.migration_events.event IS
'What happened, e.g. prepare, state <new state>, backfill ranges, backfill error, pause, validate, preflight, '
'cutover reads, finalize, rollback, cleanup, reencrypt; for the keyring key version <created, rewrapped, '
'retired, destroyed, removed>, key granted, key grant revoked.';
COMMENT ON COLUMN colcrypt.migration_events.outcome IS
'ok; failed for a validation that found differences; error for a backfill batch that failed.';
COMMENT ON COLUMN colcrypt.migration_events.detail IS
'The event''s facts as JSON, e.g. the state it left, a validation''s counts, a switch''s attempts, waited_ms and '
'switch_ms, a key''s id, version, provider and KEK reference; never key material.';
COMMENT ON COLUMN colcrypt.migration_events.prev_event_id IS
'event_id of the latest event when this one was logged, its previous link in the hash chain (usually, not '
'always, event_id - 1); NULL for the first event.';
COMMENT ON COLUMN colcrypt.migration_events.prev_hash IS
'row_hash of the event named by prev_event_id; NULL for the first event.';
COMMENT ON COLUMN colcrypt.migration_events.row_hash IS
'SHA-256 of prev_hash and this row''s content (colcrypt._event_hash), set when the row is inserted (a row '
'restored from a dump keeps its own) and checked by colcrypt.verify_audit; events logged under 0.1.0 were chained '
'by the update to 0.2.0.';

-- colcrypt.validations

COMMENT ON COLUMN colcrypt.validations.validation_id IS
'Number of the validation.';
COMMENT ON COLUMN colcrypt.validations.migration_id IS
'The migration validated; deleting the migration deletes its validations.';
COMMENT ON COLUMN colcrypt.validations.table_name IS
'The migration''s table_name.';
COMMENT ON COLUMN colcrypt.validations.validated_at IS
'When the comparison ended and was stored (clock time); the read cutover wants a clean full validation younger '
'than its p_max_validation_age.';
COMMENT ON COLUMN colcrypt.validations.validated_by IS
'The role that ran colcrypt.validate (current_user), which needs the key to decrypt.';
COMMENT ON COLUMN colcrypt.validations.sample_size IS
'p_sample_size: at most this many rows of the table, and of the shadow, from pages spread over them. NULL: every '
'row, the only kind of validation that moves a migration to validated or that the read cutover accepts.';
COMMENT ON COLUMN colcrypt.validations.total IS
'Rows of the table compared: valid + mismatched + missing (orphaned shadow rows are not counted here).';
COMMENT ON COLUMN colcrypt.validations.valid IS
'Rows whose shadow row matches: every encrypted value decrypts, with the row''s context, to the table''s value, '
'and blind indexes and other columns are equal.';
COMMENT ON COLUMN colcrypt.validations.mismatched IS
'Rows whose shadow row differs: an encrypted value that decrypts to something else or does not authenticate, or '
'a blind index or unencrypted column that differs.';
COMMENT ON COLUMN colcrypt.validations.missing IS
'Rows of the table that have no shadow row.';
COMMENT ON COLUMN colcrypt.validations.orphaned IS
'Rows of the shadow whose key is not in the table.';
COMMENT ON COLUMN colcrypt.validations.examples IS
'Up to five keys of each kind of difference, first in text order, as JSON {"mismatched": [...], "missing": [...], '
'"orphaned": [...]}; a key as text (ROW(...)::text for a key of several columns).';
COMMENT ON COLUMN colcrypt.validations.seconds IS
'How long the comparison took, in seconds.';
COMMENT ON COLUMN colcrypt.validations.passed IS
'True when no row was mismatched, missing or orphaned.';

-- colcrypt.keyring (view of colcrypt.key_versions)

COMMENT ON COLUMN colcrypt.keyring.key_id IS
'The key''s name, shared by all its versions (colcrypt.key_versions.key_id).';
COMMENT ON COLUMN colcrypt.keyring.version IS
'Version of the data key, from 1; each rotation adds the next.';
COMMENT ON COLUMN colcrypt.keyring.provider IS
'Where the KEK that wraps this version lives: local, pkcs11 or aws-kms.';
COMMENT ON COLUMN colcrypt.keyring.kek_ref IS
'Which KEK wraps this version, as its provider names it (local:<16 hex digits>, a pkcs11: URI, a KMS key ARN).';
COMMENT ON COLUMN colcrypt.keyring.wrapped_key IS
'The data key wrapped by the KEK named by kek_ref (never the data key itself); empty once destroyed.';
COMMENT ON COLUMN colcrypt.keyring.state IS
'active (encrypts and decrypts), retired (decrypts only, after a rotation) or destroyed (the wrapped key is '
'erased: values under this version can no longer be decrypted).';
COMMENT ON COLUMN colcrypt.keyring.created_at IS
'When the version was added (transaction start).';
COMMENT ON COLUMN colcrypt.keyring.created_by IS
'The role that added the version.';
COMMENT ON COLUMN colcrypt.keyring.state_changed_at IS
'When state last changed (transaction start); created_at until the version is retired or destroyed.';
COMMENT ON COLUMN colcrypt.keyring.key_check_value IS
'The key check value (colcrypt.key_versions.kcv) in hex, 32 digits, which a data key is checked against when '
'it is loaded or unwrapped.';
COMMENT ON COLUMN colcrypt.keyring.encryptions IS
'Values encrypted under this version, an upper bound in steps of 256 (a backend reserves 256 at a time); 0 '
'before the first. A warning comes at 2^30; random nonces are safe up to 2^32.';

-- colcrypt.progress (view of colcrypt.migrations and colcrypt.backfill_ranges)

COMMENT ON COLUMN colcrypt.progress.migration_id IS
'The migration (colcrypt.migrations).';
COMMENT ON COLUMN colcrypt.progress.table_name IS
'The table as applications name it (colcrypt.migrations.table_name).';
COMMENT ON COLUMN colcrypt.progress.phase IS
'The migration''s state (colcrypt.migrations.state), e.g. backfilling.';
COMMENT ON COLUMN colcrypt.progress.rows_total IS
'Rows to backfill, up to the upper bound taken when the backfill started; NULL before it started.';
COMMENT ON COLUMN colcrypt.progress.rows_done IS
'Rows of the ranges that the workers have read (copied, or found written by the triggers), summed; 0 before '
'the backfill.';
COMMENT ON COLUMN colcrypt.progress.percent IS
'Rows done of rows_total (at most 100), to one decimal; 100.0 once every range is done; NULL before the backfill.';
COMMENT ON COLUMN colcrypt.progress.rows_per_s IS
'Rows per second in batches, summed over the workers (sleeps, pauses and gaps between pg_cron runs not counted), '
'to one decimal; NULL before the first batch.';
COMMENT ON COLUMN colcrypt.progress.eta IS
'Time left at rows_per_s for the rows not done yet; NULL once every range is done or rows_done has reached '
'rows_total, and while no rate is known.';
COMMENT ON COLUMN colcrypt.progress.batches IS
'Batches committed, all workers.';
COMMENT ON COLUMN colcrypt.progress.workers IS
'Backfill workers (ranges); 0 before the first CALL colcrypt.backfill.';
COMMENT ON COLUMN colcrypt.progress.workers_active IS
'Workers not done that committed a batch in the last minute.';
COMMENT ON COLUMN colcrypt.progress.retries IS
'Batches that gave way to the application (a lock conflict, deadlock or racing trigger write) and were retried.';
COMMENT ON COLUMN colcrypt.progress.paused IS
'True from colcrypt.pause to colcrypt.resume.';
COMMENT ON COLUMN colcrypt.progress.pause_reason IS
'p_reason of colcrypt.pause; NULL when not paused or none was given.';
COMMENT ON COLUMN colcrypt.progress.throttled IS
'Why workers are held back (paused, replication lag, lock conflict), the workers'' distinct reasons joined '
'with ''; ''; NULL: none.';
COMMENT ON COLUMN colcrypt.progress.last_error IS
'The workers'' last errors, distinct, joined with ''; ''; NULL: none since their last successful batch.';
COMMENT ON COLUMN colcrypt.progress.last_batch_at IS
'When the latest batch of any worker was recorded; NULL: none yet.';

-- sql/security.sql
-- Security first: nothing is open by default; grant what the roles need.
REVOKE ALL ON ALL TABLES IN SCHEMA colcrypt FROM public;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA colcrypt FROM public;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA colcrypt FROM public;
GRANT USAGE ON SCHEMA colcrypt TO public;

-- The keyring holds only wrapped keys and check values; the C key cache reads it as the caller.
GRANT SELECT ON colcrypt.key_versions, colcrypt.key_grants, colcrypt.keyring TO public;

-- Anyone may use keys they were granted or loaded; key administration stays with the owner.
GRANT EXECUTE ON FUNCTION
colcrypt.encrypt_column(text, text, text),
colcrypt.decrypt_column(bytea, text),
colcrypt.decrypt_column(bytea, text, anyelement),
colcrypt.verify_column(bytea, text, text),
colcrypt.blind_index(text, text, text),
colcrypt.column_context(regclass, text),
colcrypt.encrypt_value(anyelement, text, text),
colcrypt.decrypt_value(bytea, text, anyelement),
colcrypt.session_public_key(),
colcrypt.load_key(text, integer, bytea),
colcrypt.forget_keys(),
colcrypt.loaded_keys(),
colcrypt._provider_context(bytea),
colcrypt._python_path(),
colcrypt._as_owner(oid, text),
colcrypt._as_owner(oid, text, "any"),
colcrypt._statement_count(text),
colcrypt.call_trigger(regprocedure, text, text[], text, text, anyelement, anyelement),
colcrypt.discover(text[], integer, interval)
TO public;

-- discover() runs as its caller; it stores a run and its findings only for roles that may write them (a
-- superuser, or one granted INSERT), so that no role can record a finding nobody found. 0.2.0 let PUBLIC.
GRANT SELECT ON colcrypt.discovery_runs, colcrypt.discovery_findings TO public;
REVOKE USAGE ON SEQUENCE colcrypt.discovery_runs_run_id_seq FROM public;

-- sql/roles.sql
-- Key administration without superuser: members of colcrypt_key_admin create, rotate, rewrap, destroy
-- and grant keys (SECURITY DEFINER functions that touch only the keyring). The role is the cluster's, so
-- that one GRANT serves every database with colcrypt; it is made once and outlives DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'colcrypt_key_admin') THEN
        CREATE ROLE colcrypt_key_admin NOLOGIN;
        COMMENT ON ROLE colcrypt_key_admin IS
        'colcrypt: its members administer keys (colcrypt.add_key, grant_key, revoke_key, rotate_key, rewrap_key, '
        'destroy_key) in each database that has colcrypt, without being superusers.';
    END IF;
END
$$;

GRANT EXECUTE ON FUNCTION
colcrypt.add_key(text, integer, text, text, bytea, bytea),
colcrypt.rotate_key(text, integer, text, text, bytea, bytea),
colcrypt.rewrap_key(text, integer, text, text, bytea, bytea),
colcrypt.destroy_key(text, integer),
colcrypt.grant_key(text, text),
colcrypt.revoke_key(text, text)
TO colcrypt_key_admin;

-- sql/upgrades/0.2.0--0.2.1/carry_over.sql
-- Migrations made by 0.2.0 take the rights model of 0.2.1: the shadow table and the generated SECURITY DEFINER
-- functions belong to the table's owner (0.2.0 gave them to the DBA who ran prepare, so the owner's triggers,
-- CHECKs and index expressions ran with the DBA's rights), and from the read cutover on the table's grantees keep
-- their privileges on the name only. Refused, changing nothing, while an owner cannot use its migration's key: its
-- triggers encrypt with its rights from now on. (Their sequences go to the name at their next step.)
DO $$
DECLARE
    m record;
    g record;
    v_missing text[] := '{}';
    v_fn regprocedure;
BEGIN
    FOR m IN
        SELECT
            x.migration_id,
            x.key_id,
            x.state,
            x.shadow::oid AS shadow,
            x.source::oid AS source,
            x.name_view::oid AS name_view,
            c.relowner AS owner,
            c.relrowsecurity AS rls
        FROM colcrypt.migrations AS x
        JOIN pg_catalog.pg_class AS c
            ON c.oid OPERATOR(pg_catalog.=) coalesce(x.name_view, x.source)::oid
        WHERE x.state OPERATOR(pg_catalog.<>) 'rolled_back'
        ORDER BY x.migration_id
    LOOP
        IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.oid OPERATOR(pg_catalog.=) m.owner)
           AND NOT EXISTS (
               SELECT FROM colcrypt.key_grants AS k
               WHERE k.key_id OPERATOR(pg_catalog.=) m.key_id
                 AND pg_catalog.pg_has_role(m.owner, k.grantee, 'MEMBER')
           ) THEN
            v_missing := v_missing || pg_catalog.format('SELECT colcrypt.grant_key(%L, %L);', m.key_id,
                                                        m.owner::regrole::text);
            CONTINUE;
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', m.shadow::regclass, m.owner::regrole);
        FOREACH v_fn IN ARRAY ARRAY[
            pg_catalog.to_regprocedure(pg_catalog.format('colcrypt.dual_write_%s()', m.migration_id)),
            pg_catalog.to_regprocedure(pg_catalog.format('colcrypt.truncate_%s()', m.migration_id)),
            pg_catalog.to_regprocedure(pg_catalog.format('colcrypt.instead_%s()', m.migration_id))
        ] LOOP
            IF v_fn IS NOT NULL THEN
                EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO %s', v_fn, m.owner::regrole);
            END IF;
        END LOOP;
        IF m.state OPERATOR(pg_catalog.=) ANY (ARRAY['cutover_reads', 'cutover_writes', 'finalized'])
           AND NOT m.rls THEN
            FOR g IN
                SELECT
                    a.privilege_type,
                    NULL::name AS col,
                    CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                        ELSE a.grantee::regrole::text END AS who
                FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
                WHERE c.oid OPERATOR(pg_catalog.=) m.source AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
                UNION ALL
                SELECT
                    a.privilege_type,
                    t.attname,
                    CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                        ELSE a.grantee::regrole::text END
                FROM pg_catalog.pg_attribute AS t, pg_catalog.aclexplode(t.attacl) AS a
                WHERE t.attrelid OPERATOR(pg_catalog.=) m.source AND t.attacl IS NOT NULL
                  AND a.grantee OPERATOR(pg_catalog.<>) m.owner
            LOOP
                EXECUTE pg_catalog.format('REVOKE %s%s ON %s FROM %s', g.privilege_type,
                                          CASE WHEN g.col IS NULL THEN '' ELSE pg_catalog.format(' (%I)', g.col) END,
                                          m.source::regclass, g.who);
            END LOOP;
        END IF;
    END LOOP;
    IF v_missing OPERATOR(pg_catalog.<>) '{}' THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'colcrypt: the owners of migrated tables may not use their migration''s key, and from 0.2.1 on '
                      'the dual-write triggers encrypt with the owner''s rights',
            HINT = 'Grant them the keys, then update again: ' || pg_catalog.array_to_string(v_missing, ' ');
    END IF;
END
$$;
