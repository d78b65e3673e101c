CREATE TABLE colcrypt.key_grants (
    key_id text NOT NULL,
    grantee regrole NOT NULL,
    granted_by name NOT NULL DEFAULT session_user,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    logged_as bigint,
    PRIMARY KEY (key_id, grantee)
);

SELECT pg_catalog.pg_extension_config_dump('colcrypt.key_grants', '');

COMMENT ON TABLE colcrypt.key_grants IS
'Roles whose sessions may have a key unwrapped server-side on first use. '
'Managed with colcrypt.grant_key() and colcrypt.revoke_key(); membership counts (pg_has_role MEMBER).';
