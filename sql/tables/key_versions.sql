CREATE TABLE colcrypt.key_versions (
    key_id text NOT NULL,
    version integer NOT NULL,
    provider text NOT NULL,
    kek_ref text NOT NULL,
    wrapped_key bytea NOT NULL,
    kcv bytea NOT NULL,
    state text NOT NULL DEFAULT 'active',
    counter regclass NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name NOT NULL DEFAULT session_user,
    state_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    logged_as bigint,
    PRIMARY KEY (key_id, version),
    CONSTRAINT key_versions_key_id_format
    CHECK (key_id ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$'),
    CONSTRAINT key_versions_version_positive CHECK (version >= 1),
    CONSTRAINT key_versions_provider_known
    CHECK (provider IN ('local', 'pkcs11', 'aws-kms')),
    CONSTRAINT key_versions_kcv_length CHECK (octet_length(kcv) = 16),
    CONSTRAINT key_versions_state_known
    CHECK (state IN ('active', 'retired', 'destroyed'))
);

CREATE UNIQUE INDEX key_versions_one_active
ON colcrypt.key_versions (key_id) WHERE state = 'active';

-- The keyring must travel with pg_dump: without it no value can be decrypted.
SELECT pg_catalog.pg_extension_config_dump('colcrypt.key_versions', '');

COMMENT ON TABLE colcrypt.key_versions IS
'Storage of the keyring: one row per data-key version, holding only the wrapped data key. '
'Read it through the view colcrypt.keyring; write it with colcrypt keys create (colcrypt.add_key).';
COMMENT ON COLUMN colcrypt.key_versions.kcv IS
'Key check value: first 16 bytes of HMAC-SHA256(data key, ''colcrypt-kcv-v1'' || 0x00 || key_id || 0x00 || version). '
'Detects unwrapping with the wrong KEK; see docs/format.md.';
COMMENT ON COLUMN colcrypt.key_versions.counter IS
'Sequence advanced by 256 before each block of 256 encryptions: an upper bound of the nonces drawn under this key.';
