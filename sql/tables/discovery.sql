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
