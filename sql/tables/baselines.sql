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
