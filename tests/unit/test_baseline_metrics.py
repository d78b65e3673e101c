"""Baseline arithmetic: windows from two snapshots, percentiles, comparisons and thresholds."""

import pytest

from colcrypt.baseline.metrics import (
    DEFAULT_THRESHOLDS,
    ENABLE_PSS,
    compare,
    measure,
    thresholds_with,
    weighted_percentile,
)


def snap(at, xacts, active_ms=0.0, statements=None, cpu=1000, written=0, reset="r0"):
    return {"at": at, "database_name": "d",
            "database": {"xacts": xacts, "rollbacks": 0, "blks_read": 10 * xacts, "blks_hit": 0, "temp_bytes": 0,
                         "active_time": active_ms, "stats_reset": reset},
            "bgwriter_written": written, "cpu_ticks": cpu, "clock_ticks_per_s": 100, "statements": statements,
            "statements_reset": "s0"}


def test_weighted_percentile():
    points = [(1.0, 90), (5.0, 9), (50.0, 1)]
    assert weighted_percentile(points, 0.5) == 1.0
    assert weighted_percentile(points, 0.95) == 5.0
    assert weighted_percentile(points, 0.999) == 50.0


def test_measure_from_pg_stat_statements_deltas():
    start = snap(100.0, 1000, statements={"1:a": [100, 100.0, 0], "1:b": [10, 1000.0, 5], "1:gone": [7, 7.0, 0]})
    end = snap(110.0, 3000, statements={"1:a": [1100, 600.0, 0], "1:b": [110, 11000.0, 25], "1:new": [0, 0.0, 0],
                                        "1:reset": [1, 9.0, 0]}, cpu=1500)
    start["statements"]["1:reset"] = [50, 90.0, 0]  # counters went backwards: ignored
    m, notes = measure(start, end)
    assert m["tps"] == 200.0 and m["transactions"] == 2000
    assert m["statement_calls"] == 1100
    assert m["latency_p50_ms"] == 0.5 and m["latency_p99_ms"] == 100.0  # 1000 calls at 0.5 ms, 100 at 100 ms
    assert m["latency_mean_ms"] == pytest.approx((1000 * 0.5 + 100 * 100) / 1100, abs=1e-4)
    assert m["cpu_s_per_s"] == 0.5 and m["cpu_ms_per_transaction"] == 2.5
    assert m["blks_written_per_s"] == 2.0 and m["blks_read_per_s"] == 2000.0
    assert notes == []


def test_measure_without_pg_stat_statements_is_reduced_and_says_so():
    m, notes = measure(snap(0.0, 0, 0.0, written=10), snap(2.0, 100, 50.0, written=30))
    assert m["latency_source"] == "pg_stat_database.active_time per transaction"
    assert m["latency_mean_ms"] == 0.5 and "latency_p95_ms" not in m
    assert m["blks_written_per_s"] == 10.0
    assert ENABLE_PSS in notes and any("whole cluster" in n for n in notes)


def test_measure_prefers_client_timings_of_a_workload():
    start = snap(0.0, 0, statements={})
    end = snap(1.0, 100, statements={"1:a": [100, 1.0, 0]})
    m, _ = measure(start, end, {"latencies_ms": [2.0] * 99 + [40.0], "calls": 1000, "errors": 3})
    assert m["latency_source"].startswith("replayed workload")
    assert (m["latency_p50_ms"], m["latency_p99_ms"], m["workload_calls"], m["workload_errors"]) == (2.0, 2.0, 1000, 3)


def test_measure_notes_missing_cpu_and_thin_windows():
    start, end = snap(0.0, 0), snap(1.0, 5)
    start["cpu_ticks"] = None
    m, notes = measure(start, end)
    assert "cpu_s_per_s" not in m
    assert any("/proc" in n for n in notes) and any("only 5 transactions" in n for n in notes)


def test_compare_directions_and_thresholds():
    base = {"latency_p95_ms": 10.0, "tps": 1000.0, "cpu_ms_per_transaction": 1.0, "blks_read_per_s": 5.0}
    now = {"latency_p95_ms": 10.9, "tps": 890.0, "cpu_ms_per_transaction": 1.2, "blks_read_per_s": 50.0}
    rows = {r["metric"]: r for r in compare(base, now, DEFAULT_THRESHOLDS, too_few=False)}
    assert rows["latency_p95_ms"]["passed"] is True and rows["latency_p95_ms"]["change_pct"] == 9.0
    assert rows["tps"]["passed"] is False and rows["tps"]["change_pct"] == -11.0
    assert rows["cpu_ms_per_transaction"]["passed"] is False and "AES-NI" in rows["cpu_ms_per_transaction"][
        "recommendation"]
    assert rows["blks_read_per_s"]["passed"] is None and rows["blks_read_per_s"]["limit_pct"] is None
    assert "latency_p99_ms" not in rows  # measured in neither window
    looser = thresholds_with({"cpu": 25})
    assert {r["metric"]: r["passed"] for r in compare(base, now, looser, False)}["cpu_ms_per_transaction"] is True
    assert all(r["passed"] is None for r in compare(base, now, DEFAULT_THRESHOLDS, too_few=True))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"lat": 1}, "unknown threshold 'lat'"), ({"cpu": "x"}, "number of percent"), ({"cpu": True}, "number"),
    ({"throughput": 5}, "negative"),
])
def test_bad_thresholds(overrides, message):
    with pytest.raises(ValueError, match=message):
        thresholds_with(overrides)


def test_counters_that_went_backwards_are_left_out():
    start = snap(0.0, 100, statements={"1:a": [100, 1000.0, 50], "1:b": [10, 10.0, 0]})
    end = snap(20.0, 200, statements={"1:a": [150, 20.0, 3], "1:b": [20, 30.0, 1]})  # a: reset, then re-grew
    m, _ = measure(start, end)
    assert m["statement_calls"] == 10 and m["latency_p50_ms"] == 2.0 and m["blks_written_per_s"] == 0.05


def test_resets_during_the_window_drop_what_they_touch():
    m, notes = measure(snap(0.0, 100, statements={}), snap(20.0, 50, statements={}, reset="r1"))
    assert "tps" not in m and "transactions" not in m and any("pg_stat_database was reset" in n for n in notes)
    end = snap(20.0, 300, statements={"1:a": [5, 5.0, 0]})
    end["statements_reset"] = "s1"
    m, notes = measure(snap(0.0, 100, statements={}), end)
    assert m["tps"] == 10.0 and "latency_p50_ms" not in m and any("evicted" in n for n in notes)


def test_pg_stat_statements_not_preloaded_is_reduced_mode():
    end = snap(20.0, 300)
    end["statements_unavailable"] = True
    m, notes = measure(snap(0.0, 100), end)
    assert m["latency_source"].startswith("pg_stat_database") and any("not loaded" in n for n in notes)


def test_failing_workload_statements_fail_the_comparison():
    base, _ = measure(snap(0.0, 0), snap(20.0, 100), {"latencies_ms": [1.0] * 100, "calls": 100, "errors": 0})
    now, _ = measure(snap(0.0, 0), snap(20.0, 100), {"latencies_ms": [], "calls": 0, "errors": 100})
    rows = {r["metric"]: r for r in compare(base, now, DEFAULT_THRESHOLDS, too_few=False)}
    assert rows["workload_error_rate"]["passed"] is False and now["workload_error_rate"] == 1.0


def test_latency_measured_differently_is_not_judged():
    base = {"latency_p95_ms": 1.0, "latency_source": "pg_stat_statements (…)"}
    now = {"latency_p95_ms": 5.0, "latency_source": "replayed workload (client-timed calls)"}
    row = next(r for r in compare(base, now, DEFAULT_THRESHOLDS, too_few=False) if r["metric"] == "latency_p95_ms")
    assert row["passed"] is None and "measured differently" in row["recommendation"]
