-- Built by `make build` from sql/ (see sql/upgrades/0.2.1--0.3.0.order). Do not edit.
\echo Use "ALTER EXTENSION colcrypt UPDATE TO '0.3.0'" to load this file. \quit

-- sql/tables/encrypted_columns.sql
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

-- sql/tables/read_redirects.sql
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

-- sql/functions/encrypt_row.sql
-- security: INVOKER. It encrypts with the key grants of whoever writes the row.
-- search_path: not SET here (it would cost on every row); the C code resolves no names, and its slow path
-- (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.encrypt_row()
RETURNS trigger
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_encrypt_row';

COMMENT ON FUNCTION colcrypt.encrypt_row() IS
'BEFORE INSERT OR UPDATE row trigger of a table with encrypted columns (colcrypt.encrypted_columns): seals the '
'value of each logical column into its envelope (and blind index), bound to the column and the row''s key, and '
'stores the logical column NULL; a NULL logical column keeps the envelope the row carries.';

-- sql/functions/encrypted_columns_changed.sql
-- security: INVOKER. It only sends cache invalidations.
-- search_path: not SET; the C code resolves no names.
CREATE OR REPLACE FUNCTION colcrypt._encrypted_columns_changed()
RETURNS trigger
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_encrypted_columns_changed';

COMMENT ON FUNCTION colcrypt._encrypted_columns_changed() IS
'Trigger of colcrypt.encrypted_columns and colcrypt.read_redirects: every session drops its cache of the table, and plans of the tables '
'named are made again.';

-- sql/functions/table_am_handler.sql
-- security: INVOKER. The server calls it when it opens a table of the access method.
-- search_path: not SET; the C code resolves no names.
CREATE OR REPLACE FUNCTION colcrypt._table_am_handler(internal)
RETURNS table_am_handler
LANGUAGE c VOLATILE STRICT PARALLEL SAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_table_am_handler';

COMMENT ON FUNCTION colcrypt._table_am_handler(internal) IS
'Handler of the table access method colcrypt: heap, with each row''s encrypted columns sealed when it is stored.';

-- sql/access_method.sql
-- The tables colcrypt serves are heap tables that seal their encrypted columns as rows are stored.
-- (sqlfluff's postgres dialect cannot parse CREATE ACCESS METHOD, hence the noqa.)
CREATE ACCESS METHOD colcrypt TYPE TABLE HANDLER colcrypt._table_am_handler; -- noqa: PRS

COMMENT ON ACCESS METHOD colcrypt IS -- noqa: PRS
'Heap, storing the encrypted columns of the tables in colcrypt.encrypted_columns as envelopes (their logical '
'columns NULL), after the row''s constraints are checked on its plaintext. Opening such a table loads the colcrypt '
'module, whose planner hook decrypts every read of a logical column.';

-- sql/triggers/encrypted_columns.sql
-- Every session sees a change of the encrypted columns at its next statement.
CREATE TRIGGER colcrypt_encrypted_columns_changed
AFTER INSERT OR UPDATE OR DELETE ON colcrypt.encrypted_columns
FOR EACH ROW EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
CREATE TRIGGER colcrypt_encrypted_columns_truncated
AFTER TRUNCATE ON colcrypt.encrypted_columns
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
CREATE TRIGGER colcrypt_read_redirects_changed
AFTER INSERT OR UPDATE OR DELETE ON colcrypt.read_redirects
FOR EACH ROW EXECUTE FUNCTION colcrypt._encrypted_columns_changed();
CREATE TRIGGER colcrypt_read_redirects_truncated
AFTER TRUNCATE ON colcrypt.read_redirects
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._encrypted_columns_changed();

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
