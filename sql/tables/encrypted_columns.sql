CREATE TABLE colcrypt.encrypted_columns (
    relation regclass NOT NULL,
    column_name name NOT NULL,
    envelope_column name NOT NULL,
    blind_index_column name,
    key_id text NOT NULL,
    context text NOT NULL,
    key_columns name[] NOT NULL,
    migration_id bigint REFERENCES colcrypt.migrations ON DELETE CASCADE,
    PRIMARY KEY (relation, column_name)
);

COMMENT ON TABLE colcrypt.encrypted_columns IS
'The encrypted columns of tables that colcrypt serves: each keeps its name and type (its logical column, stored '
'NULL) and stores its value as an envelope in envelope_column. The planner hook of the colcrypt module decrypts '
'every read of a logical column and the trigger colcrypt.encrypt_row encrypts every write; both read this table.';
COMMENT ON COLUMN colcrypt.encrypted_columns.relation IS 'The table, under the name applications use.';
COMMENT ON COLUMN colcrypt.encrypted_columns.column_name IS
'The logical column: the column''s own name and type; always NULL in storage.';
COMMENT ON COLUMN colcrypt.encrypted_columns.envelope_column IS 'The bytea column that holds the value''s envelope.';
COMMENT ON COLUMN colcrypt.encrypted_columns.blind_index_column IS
'The bytea column with the value''s blind index (equality lookups, unique constraints), or NULL.';
COMMENT ON COLUMN colcrypt.encrypted_columns.key_id IS 'The key whose active version encrypts new values.';
COMMENT ON COLUMN colcrypt.encrypted_columns.context IS
'The column''s context (colcrypt.column_context); a value''s context adds ''#'' and the row key.';
COMMENT ON COLUMN colcrypt.encrypted_columns.key_columns IS
'The row key, in order, bound into each value''s context.';
COMMENT ON COLUMN colcrypt.encrypted_columns.migration_id IS 'The migration that encrypted the column.';

SELECT pg_catalog.pg_extension_config_dump('colcrypt.encrypted_columns', '');
