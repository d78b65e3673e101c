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
