"""Baseline metrics: two snapshots of the server's counters (colcrypt.baseline.server) turned into
metrics for the window between them, and two sets of metrics compared against thresholds.

Methods, stated once (docs/baseline.md says the same):
- latency: with pg_stat_statements, the mean time of each top-level statement over the window,
  weighted by its calls (percentiles of statement means, not of single calls); without it, the
  database's active time per transaction (pg_stat_database.active_time); with a replayed
  workload, client-timed latency of every call.
- throughput: committed and rolled-back transactions per second in this database.
- CPU: user + system time of the postmaster and all its children from /proc (children that
  exited are counted by the kernel in the postmaster's cutime/cstime), per second and per
  transaction. Linux only; elsewhere CPU is not reported.
- IO: blocks read and hit, temp bytes (this database); blocks written (pg_stat_statements for
  this database, else the whole cluster from pg_stat_bgwriter).
"""

import math

DEFAULT_THRESHOLDS = {"latency": 10.0, "throughput": -10.0, "cpu": 15.0}
MIN_TRANSACTIONS = 20  # fewer in a window and the ratios are noise
ENABLE_PSS = ("pg_stat_statements is not installed in this database: latency is the mean active time per "
              "transaction. For per-statement percentiles add pg_stat_statements to shared_preload_libraries, "
              "restart, and run CREATE EXTENSION pg_stat_statements.")
ENABLE_PSS_WORKLOAD = ("pg_stat_statements is not installed in this database (latency here comes from the replayed "
                       "workload); to enable it add it to shared_preload_libraries, restart, and run "
                       "CREATE EXTENSION pg_stat_statements.")

def weighted_percentile(points: list[tuple[float, float]], q: float) -> float:
    """The q-quantile (0-1) of values given as (value, weight)."""
    points = sorted(points)
    total = sum(w for _, w in points)
    running = 0.0
    for value, weight in points:
        running += weight
        if running >= q * total:
            return value
    return points[-1][0]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _statement_latency(start: dict, end: dict) -> tuple[list, int, int]:
    """(mean ms, calls) per statement over the window, total calls, blocks written. An entry whose
    counters went backwards was reset or evicted meanwhile; it is left out."""
    points, calls, written = [], 0, 0
    for sid, (c1, t1, w1) in end["statements"].items():
        c0, t0, w0 = start["statements"].get(sid, (0, 0.0, 0))
        if c1 < c0 or t1 < t0 or w1 < w0:
            continue
        if c1 > c0:
            points.append(((t1 - t0) / (c1 - c0), c1 - c0))
            calls += c1 - c0
            written += w1 - w0
    return points, calls, written


def measure(start: dict, end: dict, workload: dict | None = None) -> tuple[dict, list[str]]:
    """Metrics over the window between two snapshots, and notes on how they were obtained.
    workload: client-side timings of a replayed workload: {"latencies_ms": [...] (all calls, or a
    uniform sample of them), "calls": n, "errors": n}."""
    seconds = max(end["at"] - start["at"], 1e-6)
    m: dict = {"window_s": round(seconds, 3)}
    notes: list[str] = []
    if start["database"]["stats_reset"] != end["database"]["stats_reset"]:
        notes.append("pg_stat_database was reset during the window: transactions, throughput and IO not measured")
        xacts = None
    else:
        db = {k: end["database"][k] - start["database"][k] for k in end["database"] if k != "stats_reset"}
        xacts = db["xacts"]
        m.update(transactions=xacts, tps=xacts / seconds, rollbacks_per_s=db["rollbacks"] / seconds,
                 blks_read_per_s=db["blks_read"] / seconds, blks_hit_per_s=db["blks_hit"] / seconds,
                 temp_bytes_per_s=db["temp_bytes"] / seconds)
    if workload is not None:
        lat = workload["latencies_ms"]
        calls, errors = workload.get("calls", len(lat)), workload.get("errors", 0)
        m["latency_source"] = "replayed workload (client-timed calls)"
        m.update(workload_calls=calls, workload_errors=errors,
                 workload_error_rate=errors / (calls + errors) if calls + errors else 0.0)
        if lat:
            m.update(latency_mean_ms=sum(lat) / len(lat), latency_p50_ms=_percentile(lat, 0.50),
                     latency_p95_ms=_percentile(lat, 0.95), latency_p99_ms=_percentile(lat, 0.99))
    pss = start["statements"] is not None and end["statements"] is not None
    if pss and start.get("statements_reset") != end.get("statements_reset"):
        notes.append("pg_stat_statements was reset or evicted entries during the window: "
                     "statement latency and blocks written not measured")
    elif pss:
        points, calls, written = _statement_latency(start, end)
        m["blks_written_per_s"] = written / seconds
        m["statement_calls"] = calls
        if workload is None and points:
            m["latency_source"] = "pg_stat_statements (top-level statement means, weighted by calls)"
            m.update(latency_mean_ms=sum(v * w for v, w in points) / calls,
                     latency_p50_ms=weighted_percentile(points, 0.50),
                     latency_p95_ms=weighted_percentile(points, 0.95),
                     latency_p99_ms=weighted_percentile(points, 0.99))
    else:
        if end.get("statements_unavailable"):
            notes.append("pg_stat_statements is installed but not loaded: add it to shared_preload_libraries "
                         "and restart for statement latency")
        else:
            notes.append(ENABLE_PSS if workload is None else ENABLE_PSS_WORKLOAD)
        m["blks_written_per_s"] = (end["bgwriter_written"] - start["bgwriter_written"]) / seconds
        notes.append("blocks written are the whole cluster's (pg_stat_bgwriter)")
        if workload is None and xacts:
            m["latency_source"] = "pg_stat_database.active_time per transaction"
            m["latency_mean_ms"] = db["active_time"] / xacts
    if start["cpu_ticks"] is not None and end["cpu_ticks"] is not None and end["cpu_ticks"] >= start["cpu_ticks"]:
        cpu_s = (end["cpu_ticks"] - start["cpu_ticks"]) / end["clock_ticks_per_s"]
        m["cpu_s_per_s"] = cpu_s / seconds
        if xacts:
            m["cpu_ms_per_transaction"] = 1000.0 * cpu_s / xacts
    else:
        notes.append("server CPU time could not be read from /proc (not Linux, or the server restarted): "
                     "not reported")
    if xacts is not None and xacts < MIN_TRANSACTIONS:
        notes.append(f"only {xacts} transactions in the window: too few for stable figures; measure under load "
                     "or replay a workload (colcrypt baseline --workload FILE)")
    if seconds < 10:
        notes.append(f"a {seconds:.1f} s window is short: statistics reach the counters up to a second late")
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}, notes


ORDER = ("window_s", "transactions", "tps", "rollbacks_per_s", "latency_source", "latency_mean_ms",
         "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "statement_calls", "workload_calls",
         "workload_errors", "workload_error_rate", "cpu_s_per_s", "cpu_ms_per_transaction", "blks_read_per_s",
         "blks_hit_per_s", "blks_written_per_s", "temp_bytes_per_s")

# metric -> (threshold name, direction: +1 when higher is worse, -1 when lower is worse)
COMPARED = {"latency_mean_ms": ("latency", 1), "latency_p50_ms": ("latency", 1), "latency_p95_ms": ("latency", 1),
            "latency_p99_ms": ("latency", 1), "tps": ("throughput", -1), "cpu_ms_per_transaction": ("cpu", 1)}
INFORMATIONAL = ("rollbacks_per_s", "cpu_s_per_s", "blks_read_per_s", "blks_hit_per_s", "blks_written_per_s",
                 "temp_bytes_per_s")
ADVICE = {
    "latency": "statements got slower: find them in pg_stat_statements (equality lookups on encrypted columns "
               "become scans: add a blind index), and throttle any running backfill (smaller batches, more sleep)",
    "throughput": "fewer transactions per second: check for lock waits (pg_stat_activity.wait_event) and a running "
                  "backfill; pause it with colcrypt.pause() and compare again",
    "cpu": "more CPU per transaction: encryption and decryption cost CPU; check colcrypt.aead_engine is the "
           "AES-NI engine and that reads decrypt only the columns they need",
}


def thresholds_with(overrides: dict | None) -> dict:
    """The default thresholds with overrides applied; raises ValueError naming a bad key or value."""
    result = dict(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise ValueError(f"unknown threshold {key!r} (known: {', '.join(DEFAULT_THRESHOLDS)})")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"threshold {key!r} must be a number of percent, not {value!r}")
        result[key] = float(value)
    if result["throughput"] > 0:
        raise ValueError("the throughput threshold is a drop, so it is negative or zero (e.g. -10)")
    return result


def compare(baseline: dict, current: dict, thresholds: dict, too_few: bool) -> list[dict]:
    """One row per metric: both values, the change in percent, the limit, pass/fail, advice.
    passed is None where there is nothing to judge (metric missing, informational, too little load)."""
    rows = []
    same_source = baseline.get("latency_source") == current.get("latency_source")
    before_err, after_err = baseline.get("workload_error_rate"), current.get("workload_error_rate")
    if after_err is not None:
        rows.append({"metric": "workload_error_rate", "baseline": before_err, "current": after_err, "change_pct": None,
                     "limit_pct": 0.0, "passed": after_err <= (before_err or 0.0),
                     "recommendation": "no more failing statements than before" if after_err <= (before_err or 0.0)
                     else "statements of the workload now fail: run them by hand to see the error"})
    for metric in (*COMPARED, *INFORMATIONAL):
        before, after = baseline.get(metric), current.get(metric)
        if before is None and after is None:
            continue
        change = None if before in (None, 0) or after is None else 100.0 * (after - before) / before
        row = {"metric": metric, "baseline": before, "current": after,
               "change_pct": None if change is None else round(change, 2), "limit_pct": None, "passed": None}
        if metric in COMPARED:
            name, direction = COMPARED[metric]
            row["limit_pct"] = thresholds[name]
            if too_few:
                row["recommendation"] = "too few transactions in a window to judge; measure under load"
            elif name == "latency" and not same_source and change is not None:
                row["recommendation"] = (f"measured differently ({baseline.get('latency_source')} vs "
                                         f"{current.get('latency_source')}): capture the baseline the same way")
            elif change is None:
                row["recommendation"] = "not measured in both windows: nothing to compare"
            else:
                row["passed"] = change <= thresholds[name] if direction > 0 else change >= thresholds[name]
                row["recommendation"] = "within the threshold" if row["passed"] else ADVICE[name]
        else:
            row["recommendation"] = "informational"
        rows.append(row)
    return rows
