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
