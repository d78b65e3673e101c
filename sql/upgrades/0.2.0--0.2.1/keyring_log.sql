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
