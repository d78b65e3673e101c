"""The client side of a migration: run the backfill in one connection while another shows its
progress, and render colcrypt.progress as a status dashboard."""

import threading
import time

import psycopg

from colcrypt.progress import Progress

STATUS_SQL = """
SELECT p.table_name, p.phase, p.rows_total, p.rows_done, p.percent, p.rows_per_s, p.eta::text AS eta, p.batches,
       p.workers, p.workers_active, p.retries, p.paused, p.pause_reason, p.throttled, p.last_error,
       v.validated_at::text AS validated_at, v.passed AS validation_passed, v.mismatched, v.missing, v.orphaned
FROM colcrypt.progress p
LEFT JOIN LATERAL (SELECT * FROM colcrypt.validations x WHERE x.migration_id = p.migration_id
                   ORDER BY x.validation_id DESC LIMIT 1) v ON true
WHERE p.phase NOT IN ('cleaned', 'rolled_back')
ORDER BY p.table_name
"""


def backfill_with_progress(dsn: str, table: str, batch_size: int, workers: int, show: bool = True) -> None:
    """CALL colcrypt.backfill for each worker (in parallel connections), with one progress bar."""
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CALL colcrypt.backfill(%s, p_batch_size => %s, p_worker => %s, p_workers => %s)",
                             (table, batch_size, worker, workers))
        except BaseException as e:  # noqa: BLE001 - reported after the bar closes
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(1, workers + 1)]
    for t in threads:
        t.start()
    with psycopg.connect(dsn, autocommit=True) as conn:
        bar = None
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
            row = conn.execute("SELECT rows_total, rows_done, rows_per_s FROM colcrypt.progress"
                               " WHERE migration_id = (SELECT migration_id FROM colcrypt.migrations"
                               " WHERE to_regclass(%s) IN (source, name_view)"
                               " AND state NOT IN ('cleaned', 'rolled_back'))", (table,)).fetchone()
            if show and row and row[0] is not None:
                bar = bar or Progress(f"backfill {table}", row[0], " rows")
                bar.update(min(row[1], row[0]), f"{row[2] or 0:,.0f} rows/s")
        if bar:
            bar.update(bar.total)
            bar.close()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# The latest comparisons with the latest comparison's baseline, newest first.
PERFORMANCE_SQL = """
SELECT label, compared_at::text AS compared_at, results FROM colcrypt.baseline_comparisons
WHERE label = (SELECT label FROM colcrypt.baseline_comparisons ORDER BY comparison_id DESC LIMIT 1)
ORDER BY comparison_id DESC LIMIT %s
"""
TREND_LENGTH = 5
TREND_METRICS = ("latency_p95_ms", "tps", "cpu_ms_per_transaction")


def performance(conn) -> dict | None:
    """The latest comparison with a baseline, and the trend of the main metrics' changes (in percent,
    oldest first) over the last comparisons with the same baseline."""
    rows = conn.execute(PERFORMANCE_SQL, (TREND_LENGTH,)).fetchall()
    if not rows:
        return None
    label, compared_at, results = rows[0]
    trend = {}
    for metric in TREND_METRICS:
        series = [next((r["change_pct"] for r in res if r["metric"] == metric), None) for _, _, res in reversed(rows)]
        if any(v is not None for v in series):
            trend[metric] = series
    return {"baseline": label, "compared_at": compared_at,
            "failed": [r["metric"] for r in results if r["passed"] is False],
            "judged": sum(r["passed"] is not None for r in results), "trend": trend}


def status(conn) -> dict:
    """The dashboard's data: every live migration, the latest comparison with a baseline, alerts."""
    cur = conn.execute(STATUS_SQL)
    names = [d.name for d in cur.description]
    migrations = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    perf = performance(conn)
    alerts = [a for r in migrations for a in _alerts(r)]
    if perf and perf["failed"]:
        alerts.append(f"! performance against baseline {perf['baseline']!r}: "
                      f"{', '.join(perf['failed'])} beyond threshold")
    return {"migrations": migrations, "performance": perf, "alerts": alerts}


def _alerts(r: dict) -> list[str]:
    out = [f"! {r['table_name']}: {what.replace('_', ' ')}: {r[what]}"
           for what in ("last_error", "throttled", "pause_reason") if r[what]]
    if r["validation_passed"] is False:
        out.append(f"! {r['table_name']}: validation found differences; see colcrypt.validations")
    return out


def health(row: dict) -> str:
    if row["last_error"]:
        return "ERROR"
    if row["validation_passed"] is False:
        return "INVALID"
    if row["paused"]:
        return "PAUSED"
    if row["throttled"]:
        return "THROTTLED"
    return "OK"


def render(state: dict) -> str:
    rows = state["migrations"]
    lines = [f"{'table':<28} {'phase':<15} {'health':<9} {'progress':>22} {'rows/s':>10} {'eta':>10}  validation"]
    for r in rows:
        done = f"{r['rows_done']:,}/{r['rows_total']:,}" if r["rows_total"] is not None else "-"
        pct = f"{r['percent']:.0f}%" if r["percent"] is not None else ""
        val = ("clean" if r["validation_passed"] else
               f"{r['mismatched']} mismatched, {r['missing']} missing, {r['orphaned']} orphaned"
               ) if r["validated_at"] else "-"
        lines.append(f"{r['table_name']:<28} {r['phase']:<15} {health(r):<9} {done + ' ' + pct:>22}"
                     f" {float(r['rows_per_s'] or 0):>10,.0f} {(r['eta'] or '-')[:10]:>10}  {val}")
    if not rows:
        lines = ["colcrypt: no migrations in progress (SELECT * FROM colcrypt.migrations for history)"]
    perf = state["performance"]
    if perf:
        verdict = f"{', '.join(perf['failed'])} beyond threshold" if perf["failed"] else \
            f"{perf['judged']} metrics within thresholds"
        lines += ["", f"performance against baseline {perf['baseline']!r} ({perf['compared_at'][:19]}): {verdict}"]
        for metric, series in perf["trend"].items():
            changes = " -> ".join("?" if v is None else f"{v:+.1f}%" for v in series)
            lines.append(f"  {metric:<24} {changes}")
    else:
        lines += ["", "performance: no comparison yet (colcrypt baseline --compare)"]
    return "\n".join(lines + ([""] + state["alerts"] if state["alerts"] else []))
