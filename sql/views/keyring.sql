CREATE VIEW colcrypt.keyring AS
SELECT
    k.key_id,
    k.version,
    k.provider,
    k.kek_ref,
    k.wrapped_key,
    k.state,
    k.created_at,
    k.created_by,
    k.state_changed_at,
    pg_catalog.encode(k.kcv, 'hex') AS key_check_value,
    coalesce(pg_catalog.pg_sequence_last_value(k.counter), 0) AS encryptions
FROM colcrypt.key_versions AS k;

COMMENT ON VIEW colcrypt.keyring IS
'The keyring: key id, version, provider, KEK reference, wrapped data key, key check value, state, '
'timestamps and encryption counter (an upper bound, counted in blocks of 256). Never holds an unwrapped key.';
