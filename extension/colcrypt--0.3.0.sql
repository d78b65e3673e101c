-- Built by `make build` from sql/ (see sql/load_order). Do not edit.
\echo Use "CREATE EXTENSION colcrypt CASCADE" to load this file. \quit

-- sql/schema.sql
-- colcrypt: online migration of plaintext columns to AES-256-GCM column encryption.
-- Built from sql/ by `make build`; do not edit extension/colcrypt--*.sql by hand.

COMMENT ON SCHEMA colcrypt IS
'colcrypt: AES-256-GCM column encryption with envelope keys held in a KMS or HSM, '
'and the online migration of plaintext columns to it. See docs/ in the colcrypt sources.';

-- sql/tables/key_versions.sql
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

-- sql/tables/key_grants.sql
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

-- sql/tables/discovery.sql
CREATE TABLE colcrypt.discovery_runs (
    run_id bigserial PRIMARY KEY,
    schemas text[],
    sample_size integer NOT NULL,
    run_by name NOT NULL DEFAULT current_user,
    started_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at timestamptz,
    skipped jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE colcrypt.discovery_findings (
    run_id bigint NOT NULL REFERENCES colcrypt.discovery_runs ON DELETE CASCADE,
    schema_name name NOT NULL,
    table_name name NOT NULL,
    column_name name NOT NULL,
    data_type text NOT NULL,
    classification text NOT NULL,
    confidence double precision NOT NULL,
    match_ratio double precision NOT NULL,
    sample_size integer NOT NULL,
    estimated_rows bigint NOT NULL,
    match_kind text NOT NULL,
    reason jsonb NOT NULL,
    PRIMARY KEY (run_id, schema_name, table_name, column_name)
);

COMMENT ON TABLE colcrypt.discovery_runs IS
'One row per colcrypt.discover() run: scope, sample size, who, when, and tables skipped with why.';
COMMENT ON TABLE colcrypt.discovery_findings IS
'Columns a discovery run judged sensitive: classification, confidence (0-1), match ratio, sample size, '
'estimated rows, whether matches are whole values, embedded or by name only, and the reason (masked examples).';
COMMENT ON SEQUENCE colcrypt.discovery_runs_run_id_seq IS 'Numbers colcrypt.discovery_runs.';

SELECT pg_catalog.pg_extension_config_dump('colcrypt.discovery_runs', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.discovery_findings', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.discovery_runs_run_id_seq', '');

-- sql/tables/baselines.sql
CREATE TABLE colcrypt.baselines (
    label text PRIMARY KEY CHECK (label <> ''),
    captured_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    captured_by name NOT NULL DEFAULT current_user,
    window_s double precision NOT NULL,
    metrics jsonb NOT NULL,
    thresholds jsonb NOT NULL,
    notes text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE colcrypt.baseline_comparisons (
    comparison_id bigserial PRIMARY KEY,
    label text NOT NULL REFERENCES colcrypt.baselines ON UPDATE CASCADE ON DELETE CASCADE,
    compared_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    compared_by name NOT NULL DEFAULT current_user,
    current_metrics jsonb NOT NULL,
    thresholds jsonb NOT NULL,
    results jsonb NOT NULL,
    notes text[] NOT NULL DEFAULT '{}'
);

COMMENT ON TABLE colcrypt.baselines IS
'Performance baselines by label: latency (mean, p50, p95, p99 in ms), transactions/s, server CPU time, '
'IO rates over a measured window, with the thresholds later comparisons use. See docs/baseline.md.';
COMMENT ON TABLE colcrypt.baseline_comparisons IS
'Every colcrypt.compare_baseline() run: the metrics measured, the thresholds applied and the per-metric '
'results (change in percent, pass or fail, recommendation).';
COMMENT ON SEQUENCE colcrypt.baseline_comparisons_comparison_id_seq IS 'Numbers colcrypt.baseline_comparisons.';

SELECT pg_catalog.pg_extension_config_dump('colcrypt.baselines', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.baseline_comparisons', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.baseline_comparisons_comparison_id_seq', '');

-- sql/tables/migrations.sql
CREATE TABLE colcrypt.migrations (
    migration_id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    source regclass NOT NULL,
    shadow regclass NOT NULL,
    name_view regclass,
    columns text[] NOT NULL,
    blind_index text[] NOT NULL DEFAULT '{}',
    key_columns text[] NOT NULL,
    key_types text[] NOT NULL,
    key_id text NOT NULL,
    context_prefix text NOT NULL,
    upper_key text[],
    rows_total bigint,
    state text NOT NULL DEFAULT 'dual_write',
    paused boolean NOT NULL DEFAULT FALSE,
    pause_reason text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    created_by name NOT NULL DEFAULT current_user,
    state_changed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    context_version smallint NOT NULL DEFAULT 2,
    CONSTRAINT migrations_state_known CHECK (state IN (
        'planned', 'dual_write', 'backfilling', 'backfilled', 'validated', 'cutover_reads',
        'cutover_writes', 'finalized', 'cleaned', 'rolled_back'
    )),
    CONSTRAINT migrations_context_version_known CHECK (context_version IN (1, 2))
);

-- One live migration per table; finished (cleaned) and rolled-back ones stay as history.
CREATE UNIQUE INDEX migrations_one_live
ON colcrypt.migrations (source) WHERE state NOT IN ('cleaned', 'rolled_back');

CREATE TABLE colcrypt.backfill_ranges (
    migration_id bigint NOT NULL REFERENCES colcrypt.migrations ON DELETE CASCADE,
    worker integer NOT NULL CHECK (worker >= 1),
    lower_key text[],
    upper_key text[],
    checkpoint text[],
    rows_done bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0,
    batch_size integer NOT NULL DEFAULT 1000,
    done boolean NOT NULL DEFAULT FALSE,
    started_at timestamptz,
    last_batch_at timestamptz,
    last_batch_ms double precision,
    busy_ms double precision NOT NULL DEFAULT 0,
    retries bigint NOT NULL DEFAULT 0,
    throttled text,
    last_error text,
    PRIMARY KEY (migration_id, worker)
);

CREATE TABLE colcrypt.migration_events (
    event_id bigserial PRIMARY KEY,
    migration_id bigint REFERENCES colcrypt.migrations ON DELETE SET NULL,
    table_name text NOT NULL,
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    by_role name NOT NULL DEFAULT session_user,
    event text NOT NULL,
    outcome text NOT NULL DEFAULT 'ok',
    detail jsonb NOT NULL DEFAULT '{}',
    prev_event_id bigint,
    prev_hash bytea,
    row_hash bytea
);

SELECT pg_catalog.pg_extension_config_dump('colcrypt.migrations', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.migrations_migration_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.backfill_ranges', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.migration_events', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.migration_events_event_id_seq', '');

COMMENT ON TABLE colcrypt.migrations IS
'One row per table migration: the table by the name applications know, its plaintext source and encrypted '
'shadow, the view that holds the table''s name after cutover, the columns, key and key columns, the backfill''s upper key bound and row count, and the state (dual_write, backfilling, backfilled, validated, '
'cutover_reads, cutover_writes, finalized, cleaned, rolled_back).';
COMMENT ON TABLE colcrypt.backfill_ranges IS
'The backfill''s key ranges, one per worker: bounds (exclusive lower, inclusive upper), checkpoint (last key '
'copied, committed with its batch), progress, current batch size, throttling and the last error.';
COMMENT ON TABLE colcrypt.migration_events IS
'Append-only log of migration steps: who, when, what, outcome and details; a hash chain (each row''s hash '
'covers its content and the previous row''s hash) that colcrypt.verify_audit() checks, so that an edited, '
'removed or inserted row shows.';
COMMENT ON SEQUENCE colcrypt.migrations_migration_id_seq IS 'Numbers colcrypt.migrations.';
COMMENT ON SEQUENCE colcrypt.migration_events_event_id_seq IS 'Numbers colcrypt.migration_events.';

CREATE TABLE colcrypt.validations (
    validation_id bigserial PRIMARY KEY,
    migration_id bigint REFERENCES colcrypt.migrations ON DELETE CASCADE,
    table_name text NOT NULL,
    validated_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    validated_by name NOT NULL DEFAULT current_user,
    sample_size integer,
    total bigint NOT NULL,
    valid bigint NOT NULL,
    mismatched bigint NOT NULL,
    missing bigint NOT NULL,
    orphaned bigint NOT NULL,
    examples jsonb NOT NULL,
    seconds double precision NOT NULL,
    passed boolean NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('colcrypt.validations', '');
SELECT pg_catalog.pg_extension_config_dump('colcrypt.validations_validation_id_seq', '');

COMMENT ON TABLE colcrypt.validations IS
'Every colcrypt.validate() run: rows compared (all, or a sample), valid, mismatched, missing (in the table, '
'not the shadow) and orphaned (in the shadow, not the table), up to five example keys of each, and the time.';
COMMENT ON SEQUENCE colcrypt.validations_validation_id_seq IS 'Numbers colcrypt.validations.';

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

-- sql/views/keyring.sql
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

-- sql/views/progress.sql
CREATE VIEW colcrypt.progress AS
SELECT
    m.migration_id,
    m.table_name,
    m.state AS phase,
    m.rows_total,
    coalesce(r.rows_done, 0) AS rows_done,
    CASE
        WHEN r.workers > 0 AND r.workers = r.workers_done THEN 100.0
        WHEN m.rows_total > 0 THEN round(100.0 * least(r.rows_done, m.rows_total) / m.rows_total, 1)
    END AS percent,
    round(r.rows_per_s::numeric, 1) AS rows_per_s,
    CASE
        WHEN r.rows_per_s > 0 AND m.rows_total > r.rows_done AND r.workers_done < r.workers
            THEN pg_catalog.make_interval(secs => (m.rows_total - r.rows_done) / r.rows_per_s)
    END AS eta,
    coalesce(r.batches, 0) AS batches,
    coalesce(r.workers, 0) AS workers,
    coalesce(r.workers_active, 0) AS workers_active,
    coalesce(r.retries, 0) AS retries,
    m.paused,
    m.pause_reason,
    r.throttled,
    r.last_error,
    r.last_batch_at
FROM colcrypt.migrations AS m
LEFT JOIN LATERAL (
    SELECT
        sum(b.rows_done) AS rows_done,
        sum(b.batches) AS batches,
        count(*) AS workers,
        count(*) FILTER (WHERE b.done) AS workers_done,
        count(*) FILTER (
            WHERE NOT b.done AND b.last_batch_at > pg_catalog.now() - interval '1 minute'
        ) AS workers_active,
        sum(b.retries) AS retries,
        sum(b.rows_done * 1000.0 / nullif(b.busy_ms, 0)) AS rows_per_s,
        string_agg(DISTINCT b.throttled, '; ') AS throttled,
        string_agg(DISTINCT b.last_error, '; ') AS last_error,
        max(b.last_batch_at) AS last_batch_at
    FROM colcrypt.backfill_ranges AS b
    WHERE b.migration_id = m.migration_id
) AS r ON TRUE;

COMMENT ON VIEW colcrypt.progress IS
'Where each migration stands: phase, rows total (up to the upper bound taken when the backfill started) and '
'done, percent, rows/s while working, ETA, batches, workers (active: a batch in the last minute), lock-conflict '
'retries, paused and why, throttling and why, the last error.';

-- sql/functions/encrypt_column.sql
-- security: INVOKER. The key cache is per role; running as the caller is what makes grants count.
-- search_path: not SET here, because a SET clause costs about 0.6 us per call on the hottest path.
-- The C code resolves no names on that path; its slow path (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.encrypt_column(p_value text, p_key_id text, p_context text)
RETURNS bytea
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_encrypt_column';

COMMENT ON FUNCTION colcrypt.encrypt_column(text, text, text) IS
'Encrypts p_value with the active version of key p_key_id (AES-256-GCM, random 96-bit nonce) into the '
'colcrypt envelope, binding p_context (the column''s stable identity, optionally the row key) as associated data. '
'NULL gives NULL. VOLATILE and PARALLEL UNSAFE: each call draws a nonce and counts it against the key.';

-- sql/functions/decrypt_column.sql
-- security: INVOKER. Decryption must use the caller's own key grants.
-- search_path: not SET here, because a SET clause costs about 0.6 us per call on the hottest path.
-- The C code resolves no names on that path; its slow path (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.decrypt_column(p_ciphertext bytea, p_context text)
RETURNS text
LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_decrypt_column';

COMMENT ON FUNCTION colcrypt.decrypt_column(bytea, text) IS
'Decrypts a colcrypt envelope made with context p_context. NULL gives NULL. Raises KC001 when the context or '
'value does not authenticate, KC002 for a malformed value, KC003 for an unknown envelope version, KC004 for a key '
'missing from the keyring and 42501 when the caller has no access to the key; never returns wrong plaintext. '
'PARALLEL UNSAFE: keys are cached per backend and loading one needs a normal transaction.';

-- sql/functions/decrypt_column_keyed.sql
-- security: INVOKER. Decryption must use the caller's own key grants.
-- search_path: not SET here, because a SET clause costs about 0.6 us per call on the hottest path.
-- The C code resolves no names on that path; its slow path (key loading) pins search_path itself.
CREATE OR REPLACE FUNCTION colcrypt.decrypt_column(p_ciphertext bytea, p_context_prefix text, p_row_key anyelement)
RETURNS text
LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_decrypt_column_keyed';

COMMENT ON FUNCTION colcrypt.decrypt_column(bytea, text, anyelement) IS
'decrypt_column(p_ciphertext, p_context_prefix || p_row_key::text), with the context built in C: what the views '
'of a cut-over table call for each encrypted column of a row with a one-column key.';

-- sql/functions/call_trigger.sql
-- security: INVOKER. The C code runs a trigger function only for the owner of the relation of the row's
-- type who may execute the function: what that role could do by attaching the function as a trigger
-- of its own (the generated functions that call it run as the migrated table's owner).
-- search_path: not SET: it is on the write path of a migrated table's name and resolves no names.
CREATE OR REPLACE FUNCTION colcrypt.call_trigger(
    p_function regprocedure,
    p_name text,
    p_args text[],
    p_timing text,
    p_op text,
    p_new anyelement,
    p_old anyelement
)
RETURNS anyelement
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_call_trigger';

COMMENT ON FUNCTION colcrypt.call_trigger(regprocedure, text, text[], text, text, anyelement, anyelement) IS
'Runs a row trigger function of a migrated table (one that reads or writes its encrypted columns) on a row '
'written through the table''s name after the write cutover, with the trigger data PostgreSQL would give it: '
'BEFORE returns the row to write (NULL: skip it). Called by the generated functions only.';

-- sql/functions/verify_column.sql
-- security: INVOKER. The key cache is per role: only roles with the key can verify values.
-- search_path: not SET, like decrypt_column: it runs once per value in a validation.
CREATE OR REPLACE FUNCTION colcrypt.verify_column(p_value bytea, p_context text, p_expected text)
RETURNS boolean
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_verify_column';

COMMENT ON FUNCTION colcrypt.verify_column(bytea, text, text) IS
'True when p_value decrypts under p_context to exactly p_expected (NULL matches only NULL). A malformed, '
'altered or moved value is false rather than an error, so validation counts it; missing key access still raises.';

-- sql/functions/blind_index.sql
-- security: INVOKER. The key cache is per role: only roles with the key can compute tokens.
-- search_path: not SET, like encrypt_column: it runs once per value in triggers and lookups.
CREATE OR REPLACE FUNCTION colcrypt.blind_index(p_value text, p_key_id text, p_context text)
RETURNS bytea
LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_blind_index';

COMMENT ON FUNCTION colcrypt.blind_index(text, text, text) IS
'A 16-byte deterministic token of p_value for equality lookups on an encrypted column: HMAC-SHA256 under a key '
'derived from the active version of p_key_id, bound to p_context (the column''s identity, not the row). Equal '
'values give equal tokens within one column and key version. NULL gives NULL.';

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

-- sql/functions/encrypt_value.sql
-- security: INVOKER. It encrypts with the caller's own key grants, through encrypt_column.
-- The settings below make the text form canonical, whatever the session's DateStyle or TimeZone.
CREATE OR REPLACE FUNCTION colcrypt.encrypt_value(p_value anyelement, p_key_id text, p_context text)
RETURNS bytea
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 3
SET bytea_output = 'hex'
AS $$
    -- format('%s') uses the type's output function, keeping char(n) padding that ::text drops.
    SELECT colcrypt.encrypt_column(
        CASE WHEN p_value IS NOT NULL THEN format('%s', p_value) END, p_key_id, p_context
    )
$$;

COMMENT ON FUNCTION colcrypt.encrypt_value(anyelement, text, text) IS
'Encrypts a value of any type from its canonical text form (ISO dates, UTC timestamps, exact floats, hex bytea), '
'so that colcrypt.decrypt_value restores it exactly. NULL gives NULL.';

-- sql/functions/decrypt_value.sql
-- security: INVOKER. It decrypts with the caller's own key grants, through decrypt_column.
-- The settings match encrypt_value's, so the canonical text form parses back to the same value.
CREATE OR REPLACE FUNCTION colcrypt.decrypt_value(p_ciphertext bytea, p_context text, p_type anyelement)
RETURNS anyelement
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 3
SET bytea_output = 'hex'
AS $$
BEGIN
    -- PL/pgSQL converts the text to the polymorphic result type through its input function.
    RETURN colcrypt.decrypt_column(p_ciphertext, p_context);
END
$$;

COMMENT ON FUNCTION colcrypt.decrypt_value(bytea, text, anyelement) IS
'Decrypts a value made by colcrypt.encrypt_value and returns it as the type of p_type, e.g. '
'colcrypt.decrypt_value(c, ctx, NULL::date). For a type modifier cast the result: ...::numeric(10,2).';

-- sql/functions/session_public_key.sql
-- security: INVOKER. It only makes a key pair in the caller's own backend.
CREATE OR REPLACE FUNCTION colcrypt.session_public_key()
RETURNS bytea
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_session_public_key';

COMMENT ON FUNCTION colcrypt.session_public_key() IS
'Makes a new X25519 key pair held only in this backend and returns its public key. '
'Clients seal data keys to it for colcrypt.load_key, so key bytes never travel in SQL text or logs.';

-- sql/functions/load_key.sql
-- security: INVOKER. The key is cached for the calling role only.
CREATE OR REPLACE FUNCTION colcrypt.load_key(p_key_id text, p_version integer, p_sealed_key bytea)
RETURNS void
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_load_key';

COMMENT ON FUNCTION colcrypt.load_key(text, integer, bytea) IS
'Loads a data key that the client unwrapped and sealed to colcrypt.session_public_key() into this backend, '
'for the current role, after checking it against the keyring''s key check value. '
'Dropped by colcrypt.forget_keys(), RESET ALL, DISCARD ALL and the end of the session.';

-- sql/functions/forget_keys.sql
-- security: INVOKER. It clears the caller's own backend.
CREATE OR REPLACE FUNCTION colcrypt.forget_keys()
RETURNS integer
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_forget_keys';

COMMENT ON FUNCTION colcrypt.forget_keys() IS
'Drops every data key cached in this backend (for all roles) and the session key pair; returns how many keys were dropped.';

-- sql/functions/loaded_keys.sql
-- security: INVOKER. It lists only the calling role's entries.
CREATE OR REPLACE FUNCTION colcrypt.loaded_keys()
RETURNS TABLE (key_id text, version integer, source text, active boolean)
LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_loaded_keys';

COMMENT ON FUNCTION colcrypt.loaded_keys() IS
'Data keys cached in this backend for the current role: key id, version, source (server or session) '
'and whether new values are encrypted with it. Never shows key bytes.';

-- sql/functions/provider_context.sql
-- security: INVOKER. It reveals settings only to the key provider call in progress, by its one-time token.
CREATE OR REPLACE FUNCTION colcrypt._provider_context(p_call_token bytea)
RETURNS text
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_provider_context';

COMMENT ON FUNCTION colcrypt._provider_context(bytea) IS
'Internal: gives colcrypt._unwrap_key the KEK file and the provider configuration file (colcrypt.kek_file, '
'colcrypt.provider_config, hidden from non-superusers), one a line, '
'during a call made by the C key cache with token p_call_token; raises 42501 otherwise.';

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

-- sql/functions/unwrap_key.sql
-- security: INVOKER. The grant check must see the real caller. It trusts no argument: the KEK file
-- comes from colcrypt._provider_context(token), which answers only during the C key cache's own call.
CREATE OR REPLACE FUNCTION colcrypt._unwrap_key(p_key_id text, p_version integer, p_call_token bytea)
RETURNS bytea
LANGUAGE plpython3u VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
context = plpy.execute(
    plpy.prepare("SELECT colcrypt._provider_context($1) AS c", ["bytea"]), [p_call_token])[0]["c"]
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.server import unwrap_key
return unwrap_key(plpy, p_key_id, p_version, context)
$$;

COMMENT ON FUNCTION colcrypt._unwrap_key(text, integer, bytea) IS
'Internal: unwraps a data key server-side for a role granted it (version 0 = the active one) and returns '
'it to the C key cache, which calls it with a one-time token. Not callable by PUBLIC, and useless to call directly.';

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

-- sql/functions/key_usage.sql
-- security: INVOKER. Reads the shadow tables the caller may read.
CREATE OR REPLACE FUNCTION colcrypt.key_usage(p_key_id text)
RETURNS TABLE (table_name text, column_name text, version integer, value_count bigint)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
    c text;
BEGIN
    FOR m IN
        SELECT g.table_name AS t, g.shadow, g.columns FROM colcrypt.migrations AS g
        WHERE g.key_id = p_key_id AND g.state <> 'rolled_back' AND g.shadow IS NOT NULL
        ORDER BY g.migration_id
    LOOP
        FOREACH c IN ARRAY m.columns LOOP
            RETURN QUERY EXECUTE format(
                'SELECT %1$L::text, %2$L::text, (get_byte(v, 0) << 24 | get_byte(v, 1) << 16 | get_byte(v, 2) << 8'
                || ' | get_byte(v, 3))::integer, count(*) FROM (SELECT substring(%3$I FROM 4 + get_byte(%3$I, 2)'
                || ' FOR 4) AS v FROM %4$s WHERE %3$I IS NOT NULL) AS x GROUP BY v ORDER BY 3',
                m.t, c, c || '_encrypted', m.shadow::regclass
            );
        END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION colcrypt.key_usage(text) IS
'How many values of each migrated table and column are encrypted under each version of key p_key_id (a full '
'scan of the shadow tables): after a rotation and CALL colcrypt.reencrypt, a version no value uses any more can '
'be destroyed.';

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

-- sql/functions/discover.sql
-- security: INVOKER. It samples only the tables the caller may read, with the caller's rights.
CREATE OR REPLACE FUNCTION colcrypt.discover(
    p_schemas text[] DEFAULT NULL,
    p_sample_size integer DEFAULT 2000,
    p_table_budget interval DEFAULT '30 seconds'
)
RETURNS SETOF colcrypt.discovery_findings
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.discovery.scan import discover
return discover(plpy, p_schemas, p_sample_size, p_table_budget)
$$;

COMMENT ON FUNCTION colcrypt.discover(text[], integer, interval) IS
'Finds columns holding sensitive data (ssn, credit_card, email, phone, iban, ip_address, date_of_birth, '
'passport, driver_license, bank_account) in the given schemas (NULL: all user schemas), sampling about p_sample_size values '
'per column; a table past p_table_budget is not sampled again for sparse columns. Stores and returns the '
'findings with confidence and masked reasons. See docs/discovery.md.';

-- sql/functions/baseline_snapshot.sql
-- security: INVOKER. It reads statistics views the caller may read and the server's /proc entries.
CREATE OR REPLACE FUNCTION colcrypt.baseline_snapshot()
RETURNS jsonb
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import json
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.baseline.server import snapshot
return json.dumps(snapshot(plpy))
$$;

COMMENT ON FUNCTION colcrypt.baseline_snapshot() IS
'The counters a baseline is computed from (pg_stat_database, pg_stat_bgwriter, pg_stat_statements when '
'installed, server CPU ticks from /proc), read now. Pass it as p_start to capture_baseline or '
'compare_baseline to measure a window you drive yourself, e.g. while replaying a workload.';

-- sql/functions/capture_baseline.sql
-- security: INVOKER. Baselines are taken by DBAs (EXECUTE is revoked from PUBLIC) as themselves.
CREATE OR REPLACE FUNCTION colcrypt.capture_baseline(
    p_label text,
    p_duration interval DEFAULT '1 minute',
    p_thresholds jsonb DEFAULT NULL,
    p_start jsonb DEFAULT NULL,
    p_workload jsonb DEFAULT NULL,
    p_replace boolean DEFAULT FALSE
)
RETURNS colcrypt.baselines
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.baseline.server import capture
return capture(plpy, p_label, p_duration, p_thresholds, p_start, p_workload, p_replace)
$$;

COMMENT ON FUNCTION colcrypt.capture_baseline(text, interval, jsonb, jsonb, jsonb, boolean) IS
'Measures the database for p_duration (or since the snapshot p_start) and stores the baseline p_label: '
'latency percentiles (pg_stat_statements, else active time per transaction, or a replayed workload''s '
'client timings in p_workload), transactions/s, server CPU time, IO. p_thresholds overrides the defaults '
'{"latency": 10, "throughput": -10, "cpu": 15} (percent). See docs/baseline.md.';

-- sql/functions/compare_baseline.sql
-- security: INVOKER. Comparisons are run by DBAs (EXECUTE is revoked from PUBLIC) as themselves.
CREATE OR REPLACE FUNCTION colcrypt.compare_baseline(
    p_label text,
    p_duration interval DEFAULT '1 minute',
    p_thresholds jsonb DEFAULT NULL,
    p_start jsonb DEFAULT NULL,
    p_workload jsonb DEFAULT NULL
)
RETURNS TABLE (
    metric text, baseline double precision, current double precision, change_pct double precision,
    limit_pct double precision, passed boolean, recommendation text, comparison_id bigint
)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.baseline.server import compare_now
return compare_now(plpy, p_label, p_duration, p_thresholds, p_start, p_workload)
$$;

COMMENT ON FUNCTION colcrypt.compare_baseline(text, interval, jsonb, jsonb, jsonb) IS
'Measures now as capture_baseline does and compares with baseline p_label: each metric with its change in '
'percent, the threshold, pass or fail (NULL: informational or too little load to judge) and a '
'recommendation. Records the comparison in colcrypt.baseline_comparisons.';

-- sql/functions/prepare.sql
-- security: INVOKER. The caller (a DBA holding the key) owns the shadow table and the SECURITY
-- DEFINER trigger functions it creates, so applications need no key and no grant on the shadow.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.prepare(
    p_table text, p_columns text[], p_key_id text, p_blind_index text[] DEFAULT '{}'
)
RETURNS TABLE (migration_id bigint, shadow text, key_columns text[])
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET lock_timeout = '5s'
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.prepare import prepare
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [prepare(plpy, p_table, oid, p_columns, p_key_id, p_blind_index)]
$$;

COMMENT ON FUNCTION colcrypt.prepare(text, text[], text, text[]) IS
'Starts the migration of table p_table (the name applications use): checks it (a key, the columns exist, '
'round-trip through text, nothing depends on them that ciphertext would break, key p_key_id usable), then in '
'this transaction creates the shadow table <table>_encrypted (with a blind index <col>_bidx for the columns in '
'p_blind_index) and the dual-write triggers (INSERT, UPDATE '
'including key changes, DELETE, TRUNCATE; ENABLE ALWAYS) and records the migration. See docs/migration.md.';

-- sql/functions/schedule_backfill.sql
-- security: INVOKER. The pg_cron jobs run as the role that schedules them, which must hold the key.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.schedule_backfill(
    p_table text, p_workers integer DEFAULT 1, p_batch_size integer DEFAULT 1000, p_sleep interval DEFAULT '0'
)
RETURNS TABLE (worker integer, jobid bigint, job_name text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.schedule import schedule
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return schedule(plpy, p_table, oid, p_workers, p_batch_size, p_sleep)
$$;

COMMENT ON FUNCTION colcrypt.schedule_backfill(text, integer, integer, interval) IS
'Runs the backfill of p_table unattended with pg_cron: one job per worker, every minute, each run stopping '
'after 50 seconds; the workers split the key space without overlap and the jobs are removed when the backfill '
'is done. Needs pg_cron in this database (cron.database_name).';

-- sql/functions/schedule_reencrypt.sql
-- security: INVOKER. The job runs as the role that schedules it, which must hold the key.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.schedule_reencrypt(
    p_table text,
    p_batch_size integer DEFAULT 1000,
    p_sleep interval DEFAULT '0'
)
RETURNS bigint
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.reencrypt import scheduled
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return scheduled(plpy, p_table, oid, p_batch_size, p_sleep)
$$;

COMMENT ON FUNCTION colcrypt.schedule_reencrypt(text, integer, interval) IS
'After a key rotation: a pg_cron job (colcrypt-reencrypt-<id>) that runs CALL colcrypt.reencrypt(p_table) every '
'minute for 50 seconds until a pass finds no value under an older key version, then retires itself. Returns '
'the job id. Needs pg_cron in this database (KC010 says where it is).';

-- sql/functions/pause.sql
-- security: INVOKER. DBAs (EXECUTE is revoked from PUBLIC) pause migrations as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.pause(p_table text, p_reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.state import set_paused
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    set_paused(plpy, p_table, oid, True, p_reason)
$$;

COMMENT ON FUNCTION colcrypt.pause(text, text) IS
'Pauses the backfill of p_table: every worker stops after its current batch (pg_cron runs end at once) '
'until colcrypt.resume(p_table). The triggers keep capturing writes.';

-- sql/functions/resume.sql
-- security: INVOKER. DBAs (EXECUTE is revoked from PUBLIC) resume migrations as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.resume(p_table text)
RETURNS void
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.state import set_paused
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    set_paused(plpy, p_table, oid, False, None)
$$;

COMMENT ON FUNCTION colcrypt.resume(text) IS
'Lets the backfill of p_table continue after colcrypt.pause(): the next CALL colcrypt.backfill (or pg_cron run) '
'goes on from its checkpoints.';

-- sql/functions/validate.sql
-- security: INVOKER. Only a role holding the key can decrypt what it compares.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.validate(p_table text, p_sample_size integer DEFAULT NULL)
RETURNS colcrypt.validations
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.validate import validate
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return validate(plpy, p_table, oid, p_sample_size)
$$;

COMMENT ON FUNCTION colcrypt.validate(text, integer) IS
'Decrypts the shadow table''s values and compares them with the table, in one snapshot: every row '
'(p_sample_size NULL) or a sample. Stores and returns total, valid, mismatched, missing, orphaned and example '
'keys; a clean full validation moves the migration from backfilled to validated.';

-- sql/functions/cutover.sql
-- security: INVOKER. The table's owner (or a superuser) switches its name, as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.cutover(
    p_table text,
    p_stage text,
    p_force boolean DEFAULT FALSE,
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20,
    p_max_validation_age interval DEFAULT '1 day'
)
RETURNS TABLE (stage text, attempts integer, waited_ms bigint, switch_ms double precision)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.cutover import cutover
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [cutover(plpy, p_table, oid, p_stage, p_force, p_lock_timeout, p_retries, p_max_validation_age)]
$$;

COMMENT ON FUNCTION colcrypt.cutover(text, text, boolean, interval, integer, interval) IS
'Switches p_table''s name to the encrypted data. Stage reads: the name becomes a view that decrypts the shadow '
'(columns, defaults, grants and comments as the table had them; dependent views re-pointed), writes through it '
'go on to the plaintext table, renamed <table>_plaintext. Stage writes: writes through the name go to the shadow '
'first and then, in reverse, to the plaintext table; the table''s triggers move to the shadow. Reads needs a clean '
'full validation younger than '
'p_max_validation_age and the key granted to every role that reads the table (p_force skips both). One short '
'switch under p_lock_timeout, retried up to p_retries times; returns the attempts and the time taken.';

-- sql/functions/rollback.sql
-- security: INVOKER. The table's owner (or a superuser) rolls back, as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.rollback(
    p_table text,
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20
)
RETURNS TABLE (from_state text, attempts integer, waited_ms bigint, switch_ms double precision)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.rollback import rollback
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [rollback(plpy, p_table, oid, p_lock_timeout, p_retries)]
$$;

COMMENT ON FUNCTION colcrypt.rollback(text, interval, integer) IS
'Undoes the migration of p_table from any stage before cleanup: removes its pg_cron jobs, gives the name back to '
'the plaintext table (which has taken every write throughout), drops the view, triggers and shadow table, and '
'records the event. One short switch under p_lock_timeout, retried up to p_retries times.';

-- sql/functions/finalize.sql
-- security: INVOKER. The table's owner (or a superuser) finalizes, as themselves.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.finalize(
    p_table text,
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20
)
RETURNS TABLE (stage text, attempts integer, waited_ms bigint, switch_ms double precision)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.finalize import finalize
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return [finalize(plpy, p_table, oid, p_lock_timeout, p_retries)]
$$;

COMMENT ON FUNCTION colcrypt.finalize(text, interval, integer) IS
'After the write cutover: the shadow becomes the table of record. Foreign keys out of and into p_table move to '
'the shadow (NOT VALID; cleanup validates them), CHECKs on unencrypted columns too; the name''s trigger stops '
'writing the plaintext table and checks the CHECKs and NOT NULLs of encrypted columns itself. The plaintext '
'table loses its grants and is kept for cleanup; rollback is still possible. One short switch under '
'p_lock_timeout, retried up to p_retries times.';

-- sql/functions/cleanup.sql
-- security: INVOKER. The table's owner (or a superuser) cleans up, as themselves; pg_cron runs it
-- as the role that scheduled it.
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.cleanup(
    p_table text,
    p_retain interval DEFAULT '90 days',
    p_lock_timeout interval DEFAULT '200 ms',
    p_retries integer DEFAULT 20
)
RETURNS TABLE (place text, detail text, action text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.cleanup import cleanup
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return cleanup(plpy, p_table, oid, p_retain, p_lock_timeout, p_retries)
$$;

COMMENT ON FUNCTION colcrypt.cleanup(text, interval, interval, integer) IS
'After finalize: validates the constraints finalize moved; then, until p_retain has passed since finalize, keeps '
'the plaintext table without grants (a daily pg_cron job, colcrypt-cleanup-<id>, calls cleanup again); once '
'it has, drops it in one short switch, moving the sequences its columns own and its identity columns to the '
'shadow and dropping colcrypt''s triggers and functions. Returns what it did and where plaintext of the '
'columns may still live (WAL, backups, standbys, logs, pg_stat_statements), with what to do about each.';

-- sql/functions/preflight.sql
-- security: INVOKER. Reads pg_stat_statements and the catalog as the caller (a DBA).
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.preflight(p_table text)
RETURNS TABLE (kind text, detail text, calls bigint, remedy text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.preflight import preflight
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return preflight(plpy, p_table, oid)
$$;

COMMENT ON FUNCTION colcrypt.preflight(text) IS
'What the cutover of p_table will change for applications, each with its remedy: statements seen by '
'pg_stat_statements that use an encrypted column for equality, ranges, LIKE or ORDER BY, or use ON CONFLICT, '
'TRUNCATE or ALTER on the table; roles that read it without the key; row-level security, materialized views, '
'statement-level and column triggers, rules. colcrypt.cutover runs it and logs the findings.';

-- sql/functions/plaintext_residue.sql
-- security: INVOKER. Reads statistics and server settings as the caller (a DBA, pg_monitor for WAL).
-- search_path: not SET, so that p_table is resolved with the caller's search_path, as applications
-- name it; the PL/Python code then pins pg_catalog, pg_temp for its own queries.
CREATE OR REPLACE FUNCTION colcrypt.plaintext_residue(p_table text)
RETURNS TABLE (place text, detail text, action text)
LANGUAGE plpython3u VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.residue import residue
from colcrypt.plpy_helpers import caller_table, pinned_search_path
oid = caller_table(plpy, p_table)
with pinned_search_path(plpy):
    return residue(plpy, p_table, oid)
$$;

COMMENT ON FUNCTION colcrypt.plaintext_residue(text) IS
'Where plaintext of p_table''s migrated columns may still live, measured on this server where it can be (the '
'plaintext table, planner statistics, WAL and replication slots, WAL archive and backups, standbys, the server '
'log, pg_stat_statements), each with what to do about it.';

-- sql/procedures/backfill.sql
-- security: INVOKER. It runs as the DBA or the pg_cron job's owner, who holds the key; a SECURITY
-- DEFINER procedure could not COMMIT between batches.
-- search_path: not SET, because a procedure with a SET clause cannot COMMIT; every name in its SQL
-- is schema-qualified or resolved through pg_catalog first (the PL/Python code sets it per batch).
CREATE OR REPLACE PROCEDURE colcrypt.backfill(
    p_table text,
    p_batch_size integer DEFAULT 1000,
    p_max_runtime interval DEFAULT NULL,
    p_sleep interval DEFAULT '0',
    p_worker integer DEFAULT 1,
    p_workers integer DEFAULT 1,
    p_target_batch interval DEFAULT '200 milliseconds',
    p_max_lag interval DEFAULT '30 seconds'
)
LANGUAGE plpython3u SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.backfill import backfill
backfill(plpy, p_table, p_batch_size, p_max_runtime, p_sleep, p_worker, p_workers, p_target_batch, p_max_lag)
$$;

COMMENT ON PROCEDURE colcrypt.backfill(text, integer, interval, interval, integer, integer, interval, interval) IS -- noqa: LT01
'Copies the rows of p_table that predate its dual-write triggers into the shadow table, encrypted, in key '
'order: one transaction per batch with its checkpoint, resumable, rows locked FOR KEY SHARE, never overwriting '
'a trigger''s write, giving way on lock conflicts, adapting the batch size toward p_target_batch, pausing on '
'replication lag over p_max_lag, stopping after p_max_runtime or on colcrypt.pause(). p_worker of p_workers '
'takes one share of the key space. Not in a transaction block (it commits).';

-- sql/procedures/reencrypt.sql
-- security: INVOKER. It runs as the key administrator or the pg_cron job's owner, who holds the key; a
-- SECURITY DEFINER procedure could not COMMIT between batches.
-- search_path: not SET, because a procedure with a SET clause cannot COMMIT; the PL/Python code pins it
-- once the table's name is resolved, and again after each COMMIT.
CREATE OR REPLACE PROCEDURE colcrypt.reencrypt(
    p_table text,
    p_batch_size integer DEFAULT 1000,
    p_sleep interval DEFAULT '0',
    p_max_runtime interval DEFAULT NULL
)
LANGUAGE plpython3u SECURITY INVOKER
AS $$
import sys
path = plpy.execute("SELECT colcrypt._python_path() AS p")[0]["p"]
if path not in sys.path:
    sys.path.insert(0, path)
from colcrypt.migrate.reencrypt import reencrypt
from colcrypt.plpy_helpers import caller_table
reencrypt(plpy, p_table, caller_table(plpy, p_table), p_batch_size, p_sleep, p_max_runtime)
$$;

COMMENT ON PROCEDURE colcrypt.reencrypt(text, integer, interval, interval) IS -- noqa: LT01
'After a key rotation: re-encrypts the values of p_table''s shadow that are under an older version of its key '
'with the active version (blind indexes too), in key order, one committed batch of p_batch_size rows at a time '
'(p_sleep between batches, stopping after p_max_runtime), online and resumable; the table''s triggers do not '
'fire. A pass that finds nothing left removes (or, run by it, retires) the job of colcrypt.schedule_reencrypt. '
'Not in a transaction block.';

-- sql/functions/event_hash.sql
-- security: INVOKER. Runs as whoever logs a migration step (they insert the event) or verifies the log.
CREATE OR REPLACE FUNCTION colcrypt._event_hash(p_event colcrypt.migration_events)
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

-- sql/functions/refuse_event_change.sql
-- security: INVOKER. Runs as whoever logs a migration step.
CREATE OR REPLACE FUNCTION colcrypt._refuse_event_change()
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

-- sql/functions/verify_audit.sql
-- security: INVOKER. Reads the event log as the caller.
CREATE OR REPLACE FUNCTION colcrypt.verify_audit()
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

-- sql/functions/keyring_changed.sql
-- security: INVOKER. Runs as whoever changes the keyring or the grants.
CREATE OR REPLACE FUNCTION colcrypt._keyring_changed()
RETURNS trigger
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_keyring_changed';

COMMENT ON FUNCTION colcrypt._keyring_changed() IS
'Internal: tells every backend that the keyring or the grants changed (a relcache invalidation of '
'colcrypt.key_versions): before its next use of a key each one unwraps server-side keys again and re-reads '
'the state of the keys its client loaded, so that rotation, destruction and revocation reach running sessions.';

-- sql/triggers/event_log.sql
-- The event log is a hash chain, append-only.
CREATE TRIGGER colcrypt_chain BEFORE INSERT ON colcrypt.migration_events
FOR EACH ROW EXECUTE FUNCTION colcrypt._chain_event();

CREATE TRIGGER colcrypt_append_only BEFORE UPDATE OR DELETE ON colcrypt.migration_events
FOR EACH ROW EXECUTE FUNCTION colcrypt._refuse_event_change();
CREATE TRIGGER colcrypt_no_truncate BEFORE TRUNCATE ON colcrypt.migration_events
FOR EACH STATEMENT EXECUTE FUNCTION colcrypt._refuse_event_change();

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

-- sql/event_triggers.sql
-- DDL that would break a live migration's triggers is refused (colcrypt._guard_ddl says what).
-- (sqlfluff's postgres dialect cannot parse CREATE EVENT TRIGGER, hence the noqa.)
CREATE EVENT TRIGGER colcrypt_guard_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW') EXECUTE FUNCTION colcrypt._guard_ddl(); -- noqa: PRS

CREATE EVENT TRIGGER colcrypt_guard_drop ON sql_drop WHEN TAG IN ('DROP TABLE', 'DROP VIEW', 'DROP SCHEMA', 'DROP OWNED') EXECUTE FUNCTION colcrypt._guard_ddl(); -- noqa: PRS

COMMENT ON EVENT TRIGGER colcrypt_guard_alter IS
'colcrypt: refuses the ALTER TABLE (or VIEW) that would break a live migration of the table, its shadow table or '
'its name (see colcrypt._guard_ddl).';
COMMENT ON EVENT TRIGGER colcrypt_guard_drop IS
'colcrypt: refuses dropping a table being migrated or its shadow table (see colcrypt._guard_ddl).';

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
