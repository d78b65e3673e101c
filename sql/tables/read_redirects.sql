CREATE TABLE colcrypt.read_redirects (
    relation regclass PRIMARY KEY,
    shadow regclass NOT NULL,
    migration_id bigint NOT NULL REFERENCES colcrypt.migrations ON DELETE CASCADE
);

COMMENT ON TABLE colcrypt.read_redirects IS
'The read cutover: the plain reads (not the target of a write, not locked FOR UPDATE/SHARE) of each relation in '
'the statements clients send go to its shadow, decrypted, while writes still go to the relation. The planner '
'hook of the colcrypt module reads this table.';
COMMENT ON COLUMN colcrypt.read_redirects.relation IS 'The table under the name applications use (plaintext).';
COMMENT ON COLUMN colcrypt.read_redirects.shadow IS 'Its shadow, which serves the reads.';
COMMENT ON COLUMN colcrypt.read_redirects.migration_id IS 'The migration at the read cutover.';

SELECT pg_catalog.pg_extension_config_dump('colcrypt.read_redirects', '');
