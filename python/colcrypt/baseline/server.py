"""The server half of the baseline, called by the PL/Python functions colcrypt.baseline_snapshot(),
colcrypt.capture_baseline() and colcrypt.compare_baseline(): it reads the counters (catalog views
and /proc) and stores what colcrypt.baseline.metrics computes from them."""

import json
import os

from colcrypt.baseline.metrics import MIN_TRANSACTIONS, compare, measure, thresholds_with
from colcrypt.plpy_helpers import fail, interval_seconds

DATABASE_SQL = """
SELECT xact_commit AS xacts, xact_rollback AS rollbacks, blks_read, blks_hit, temp_bytes, active_time,
       coalesce(stats_reset::text, '') AS stats_reset
FROM pg_stat_database WHERE datname = current_database()
"""
BGWRITER_SQL = "SELECT buffers_checkpoint + buffers_clean + buffers_backend AS written FROM pg_stat_bgwriter"
PSS_SCHEMA_SQL = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
"""
STATEMENTS_SQL = """
SELECT userid::text || ':' || queryid::text AS id, calls, total_exec_time,
       shared_blks_written + local_blks_written AS written
FROM {schema}.pg_stat_statements(false)
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND toplevel AND queryid IS NOT NULL AND calls > 0
"""
PSS_INFO_SQL = "SELECT dealloc, stats_reset::text AS stats_reset FROM {schema}.pg_stat_statements_info"
MAX_WINDOW_S = 3600


def _stat_fields(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # fields from the 3rd on: state, ppid, ...


def _children_ticks(postmaster: int) -> int:
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == postmaster:
            continue
        try:
            fields = _stat_fields(pid)
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == postmaster:
            total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total


def server_cpu_ticks() -> int | None:
    """Clock ticks of CPU used so far by the postmaster and all its processes; None off Linux.
    When the postmaster reaps a child, the kernel moves the child's time into the postmaster's
    cutime and cstime; a child reaped while the children are being read would be counted in
    neither, so the reading is repeated until the postmaster's own counters stand still."""
    try:
        postmaster = os.getppid()
        for _ in range(10):
            before = [int(x) for x in _stat_fields(postmaster)[11:15]]
            children = _children_ticks(postmaster)
            after = [int(x) for x in _stat_fields(postmaster)[11:15]]
            if before[2:] == after[2:]:
                return sum(after) + children
        return None
    except (OSError, IndexError, ValueError):
        return None


def snapshot(plpy) -> dict:
    """Every counter the metrics need, read now, as one JSON-able dict."""
    plpy.execute("SELECT pg_stat_clear_snapshot()")  # else the transaction sees its first, cached read
    now = plpy.execute("SELECT extract(epoch FROM clock_timestamp())::float8 AS t, current_database() AS d")[0]
    snap = {"at": now["t"], "database_name": now["d"], "database": dict(plpy.execute(DATABASE_SQL)[0]),
            "bgwriter_written": plpy.execute(BGWRITER_SQL)[0]["written"], "cpu_ticks": server_cpu_ticks(),
            "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"), "statements": None}
    pss = plpy.execute(PSS_SCHEMA_SQL)
    if pss:
        schema = plpy.quote_ident(pss[0]["nspname"])
        try:  # installed but not in shared_preload_libraries: it raises, and the baseline goes on without it
            with plpy.subtransaction():
                rows = plpy.execute(STATEMENTS_SQL.format(schema=schema))
                info = plpy.execute(PSS_INFO_SQL.format(schema=schema))[0]
            snap["statements"] = {r["id"]: [r["calls"], r["total_exec_time"], r["written"]] for r in rows}
            snap["statements_reset"] = f"{info['stats_reset']}/{info['dealloc']}"
        except plpy.SPIError:
            snap["statements_unavailable"] = True
    return snap


def _bad(plpy, message: str, hint: str) -> None:
    fail(plpy, "KC008", message, hint)


def _window(plpy, duration_s: float | None, start_json: str | None, workload_json: str | None):
    """Metrics and notes for a window: from a snapshot taken by the caller (p_start), or one taken
    now and another after sleeping for the duration."""
    workload = None
    if workload_json is not None:
        workload = json.loads(workload_json)
        lat = workload.get("latencies_ms") if isinstance(workload, dict) else None
        if not isinstance(lat, list) or not all(isinstance(x, int | float) and x >= 0 for x in lat):
            _bad(plpy, "p_workload must be an object with latencies_ms, a list of non-negative milliseconds",
                 'For example {"latencies_ms": [1.2, 0.9], "errors": 0}; colcrypt baseline --workload makes it.')
    if start_json is not None:
        start = json.loads(start_json)
        end = snapshot(plpy)
        if not _same_shape(start, end):
            _bad(plpy, "p_start is not a snapshot", "Pass what colcrypt.baseline_snapshot() returned, unchanged.")
        if start["database_name"] != end["database_name"]:
            _bad(plpy, f"p_start was taken in database {start['database_name']!r}, not here",
                 "Take the snapshot with colcrypt.baseline_snapshot() in the database you measure.")
        if not 0 < end["at"] - start["at"] <= MAX_WINDOW_S:
            _bad(plpy, "p_start is not from the last hour",
                 "Take the snapshot with colcrypt.baseline_snapshot() just before the window (at most an hour).")
    else:
        if duration_s is None or not 1 <= duration_s <= MAX_WINDOW_S:
            _bad(plpy, f"the measuring window must be between 1 second and 1 hour, not {duration_s} s",
                 "Pass p_duration => '1 minute' (the default), or run the window yourself with p_start.")
        start = snapshot(plpy)
        plpy.execute(f"SELECT pg_sleep({float(duration_s)})")
        end = snapshot(plpy)
    try:
        metrics, notes = measure(start, end, workload)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        _bad(plpy, f"p_start or p_workload does not fit this snapshot ({type(e).__name__})",
             "Pass what colcrypt.baseline_snapshot() returned, unchanged, and client timings as documented.")
    for note in notes:
        plpy.notice(f"colcrypt: {note}")
    return metrics, notes


def _same_shape(start, end: dict) -> bool:
    """start has every field of a snapshot, of the same types (numbers may be int or float)."""
    def kind(v):
        return "number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__
    if not isinstance(start, dict):
        return False
    for key, value in end.items():
        if key in ("statements", "cpu_ticks", "statements_reset", "statements_unavailable"):
            continue
        if key not in start or kind(start[key]) != kind(value):
            return False
    if not all(kind(start["database"].get(k)) == kind(v) for k, v in end["database"].items()):
        return False
    statements = start.get("statements")
    return statements is None or (isinstance(statements, dict) and all(
        isinstance(v, list) and len(v) == 3 and all(kind(x) == "number" for x in v) for v in statements.values()))


def _thresholds(plpy, thresholds_json: str | None, stored: dict | None = None) -> dict:
    """p_thresholds over the stored thresholds (or the defaults), checked."""
    try:
        parsed = json.loads(thresholds_json) if thresholds_json else {}
        if not isinstance(parsed, dict):
            raise ValueError("p_thresholds must be a JSON object")
        return thresholds_with({**(stored or {}), **parsed})
    except (ValueError, AttributeError) as e:
        _bad(plpy, f"bad p_thresholds: {e}", 'Pass percentages, e.g. {"latency": 10, "throughput": -10, "cpu": 15}.')


def capture(plpy, label, duration, thresholds_json, start_json, workload_json, replace) -> dict:
    if not label or not label.strip():
        _bad(plpy, "a baseline needs a label", "Name it after what it measures, e.g. 'before encryption'.")
    thresholds = _thresholds(plpy, thresholds_json)
    exists = plpy.execute(plpy.prepare("SELECT 1 FROM colcrypt.baselines WHERE label = $1", ["text"]), [label])
    if exists and not replace:
        fail(plpy, "KC012", f"baseline {label!r} already exists",
             "Choose another label, or pass p_replace => true to measure it again.")
    metrics, notes = _window(plpy, interval_seconds(plpy, duration), start_json, workload_json)
    upsert = (" ON CONFLICT (label) DO UPDATE SET captured_at = excluded.captured_at,"
              " captured_by = excluded.captured_by, window_s = excluded.window_s, metrics = excluded.metrics,"
              " thresholds = excluded.thresholds, notes = excluded.notes") if replace else ""
    try:
        with plpy.subtransaction():
            return plpy.execute(plpy.prepare(
                "INSERT INTO colcrypt.baselines AS b (label, window_s, metrics, thresholds, notes)"
                f" VALUES ($1, $2, $3::jsonb, $4::jsonb, $5){upsert} RETURNING b.*",
                ["text", "float8", "text", "text", "text[]"]),
                [label, metrics["window_s"], json.dumps(metrics), json.dumps(thresholds), notes])[0]
    except plpy.spiexceptions.UniqueViolation:  # another capture of the label finished meanwhile
        fail(plpy, "KC012", f"baseline {label!r} already exists",
             "Another session captured it while this one measured; choose another label or pass p_replace => true.")


def compare_now(plpy, label, duration, thresholds_json, start_json, workload_json) -> list[dict]:
    base = plpy.execute(plpy.prepare("SELECT metrics, thresholds FROM colcrypt.baselines WHERE label = $1",
                                     ["text"]), [label])
    if not base:
        fail(plpy, "KC013", f"there is no baseline {label!r}",
             "Capture it first: SELECT colcrypt.capture_baseline('LABEL'); see SELECT label FROM colcrypt.baselines.")
    baseline = json.loads(base[0]["metrics"])
    thresholds = _thresholds(plpy, thresholds_json, json.loads(base[0]["thresholds"]))
    current, notes = _window(plpy, interval_seconds(plpy, duration), start_json, workload_json)
    too_few = min(baseline.get("transactions", 0), current.get("transactions", 0)) < MIN_TRANSACTIONS
    rows = compare(baseline, current, thresholds, too_few)
    comparison = plpy.execute(plpy.prepare(
        "INSERT INTO colcrypt.baseline_comparisons (label, current_metrics, thresholds, results, notes)"
        " VALUES ($1, $2::jsonb, $3::jsonb, $4::jsonb, $5) RETURNING comparison_id",
        ["text", "text", "text", "text", "text[]"]),
        [label, json.dumps(current), json.dumps(thresholds), json.dumps(rows), notes])[0]["comparison_id"]
    return [{**r, "comparison_id": comparison} for r in rows]
