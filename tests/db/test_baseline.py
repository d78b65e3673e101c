"""Baseline capture and comparison, with and without pg_stat_statements, under a real load."""

import contextlib
import json
import threading

import psycopg
import pytest

from colcrypt.cli import main
from tests.db.helpers import raises_sqlstate, scalar

# PostgreSQL 15 counts a session's transactions in pg_stat_database only when it also has table
# statistics to report, so the loads read a table, as real applications do.
FAST = "SELECT relname FROM pg_class LIMIT 1"
SLOW = "SELECT relname, pg_sleep(0.005) FROM pg_class LIMIT 1"
WIDE_OPEN = '{"latency": 1000, "throughput": -99, "cpu": 1000}'


@contextlib.contextmanager
def load(db, statement: str, clients: int = 2):
    """Clients running `statement` in a loop, one transaction per call, until the block ends."""
    stop = threading.Event()
    counts = []

    def run():
        n = 0
        with db.connect() as c:
            while not stop.is_set():
                c.execute(statement)
                n += 1
        counts.append(n)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        yield counts
    finally:
        stop.set()
        for t in threads:
            t.join()


def capture(conn, label, seconds=2, **kw):
    args = ", ".join(f"{k} => %({k})s" for k in kw)
    row = conn.execute(f"SELECT metrics, notes FROM colcrypt.capture_baseline(%(label)s, %(d)s::interval"
                       f"{', ' + args if args else ''})", {"label": label, "d": f"{seconds} s", **kw}).fetchone()
    return row[0], row[1]


def test_capture_with_pg_stat_statements(db, conn):
    with load(db, FAST):
        metrics, notes = capture(conn, "before")
    assert metrics["latency_source"].startswith("pg_stat_statements")
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"] <= metrics["latency_p99_ms"]
    assert metrics["transactions"] >= 20 and metrics["tps"] > 10
    assert metrics["cpu_s_per_s"] > 0 and metrics["cpu_ms_per_transaction"] > 0
    assert metrics["blks_hit_per_s"] > 0
    assert notes == []
    stored = conn.execute("SELECT thresholds, window_s FROM colcrypt.baselines WHERE label = 'before'").fetchone()
    assert stored[0] == {"latency": 10.0, "throughput": -10.0, "cpu": 15.0}
    assert 1.9 < stored[1] < 4


def test_capture_without_pg_stat_statements_says_how_to_enable_it(db, conn):
    conn.execute("DROP EXTENSION pg_stat_statements")
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    with load(db, FAST):
        metrics, notes = capture(conn, "reduced")
    assert metrics["latency_source"] == "pg_stat_database.active_time per transaction"
    assert metrics["latency_mean_ms"] > 0 and "latency_p95_ms" not in metrics
    assert metrics["tps"] > 10 and metrics["cpu_ms_per_transaction"] > 0
    assert any("CREATE EXTENSION pg_stat_statements" in n for n in notes)
    assert any("CREATE EXTENSION pg_stat_statements" in n for n in notices)


def test_compare_fails_slower_queries_and_records_it(db, conn):
    with load(db, FAST):
        capture(conn, "fast")
    with load(db, SLOW):
        rows = conn.execute("SELECT metric, change_pct, limit_pct, passed, recommendation, comparison_id"
                            " FROM colcrypt.compare_baseline('fast', '2 s')").fetchall()
    by = {r[0]: r for r in rows}
    assert by["latency_p50_ms"][3] is False and by["latency_p50_ms"][1] > 100
    assert "blind index" in by["latency_p50_ms"][4]
    assert by["tps"][3] is False and by["tps"][2] == -10.0
    assert by["blks_hit_per_s"][3] is None  # informational
    stored = conn.execute("SELECT results FROM colcrypt.baseline_comparisons WHERE comparison_id = %s",
                          (rows[0][5],)).fetchone()[0]
    assert {r["metric"]: r["passed"] for r in stored}["tps"] is False


def test_compare_passes_within_configured_thresholds(db, conn):
    with load(db, FAST):
        capture(conn, "same", p_thresholds=WIDE_OPEN)
        rows = conn.execute("SELECT metric, passed, limit_pct FROM colcrypt.compare_baseline('same', '2 s')"
                            " WHERE limit_pct IS NOT NULL").fetchall()
    assert {r[0] for r in rows} >= {"latency_p95_ms", "tps", "cpu_ms_per_transaction"}
    assert all(r[1] is True for r in rows), rows
    assert {r[0]: r[2] for r in rows}["tps"] == -99.0


def test_compare_does_not_judge_an_idle_window(db, conn):
    capture(conn, "idle")
    rows = conn.execute("SELECT metric, passed, recommendation FROM colcrypt.compare_baseline('idle', '1 s')"
                        " WHERE limit_pct IS NOT NULL").fetchall()
    assert rows and all(r[1] is None for r in rows)
    assert any("too few transactions" in r[2] for r in rows)


def test_window_driven_by_the_caller_with_workload_timings(db, conn):
    start = scalar(conn, "SELECT colcrypt.baseline_snapshot()")
    with load(db, FAST):
        import time
        time.sleep(1.5)
    workload = json.dumps({"latencies_ms": [1.0] * 90 + [5.0] * 9 + [50.0], "calls": 100, "errors": 0})
    metrics, _ = capture(conn, "replayed", p_start=json.dumps(start), p_workload=workload)
    assert metrics["latency_source"].startswith("replayed workload")
    assert (metrics["latency_p50_ms"], metrics["latency_p95_ms"], metrics["latency_p99_ms"]) == (1.0, 5.0, 5.0)
    assert metrics["workload_calls"] == 100 and metrics["transactions"] > 20


@pytest.mark.parametrize(("call", "sqlstate", "match"), [
    ("SELECT colcrypt.capture_baseline('dup', '1 s')", "KC012", "'dup' already exists"),
    ("SELECT * FROM colcrypt.compare_baseline('nope', '1 s')", "KC013", "no baseline 'nope'"),
    ("SELECT colcrypt.capture_baseline('x', '0 s')", "KC008", "between 1 second and 1 hour"),
    ("SELECT colcrypt.capture_baseline('x', '2 hours')", "KC008", "between 1 second and 1 hour"),
    ("SELECT colcrypt.capture_baseline('', '1 s')", "KC008", "needs a label"),
    ("SELECT colcrypt.capture_baseline(NULL, '1 s')", "KC008", "needs a label"),
    ("SELECT colcrypt.capture_baseline('x', '1 s', '{\"latncy\": 5}')", "KC008", "unknown threshold 'latncy'"),
    ("SELECT colcrypt.capture_baseline('x', '1 s', '{\"throughput\": 10}')", "KC008", "negative"),
    ("SELECT colcrypt.capture_baseline('x', '1 s', '{\"cpu\": \"lots\"}')", "KC008", "number of percent"),
    ("SELECT colcrypt.capture_baseline('x', p_start => '{\"at\": 1}')", "KC008", "not a snapshot"),
    ("SELECT colcrypt.capture_baseline('x', '1 s', p_workload => '{\"latencies_ms\": [-1]}')", "KC008",
     "latencies_ms"),
])
def test_bad_input_is_refused_and_changes_nothing(conn, call, sqlstate, match):
    conn.execute("SELECT colcrypt.capture_baseline('dup', p_start => colcrypt.baseline_snapshot())")
    before = scalar(conn, "SELECT count(*) FROM colcrypt.baselines") + \
        scalar(conn, "SELECT count(*) FROM colcrypt.baseline_comparisons")
    with raises_sqlstate(sqlstate, match):
        conn.execute(call)
    assert scalar(conn, "SELECT count(*) FROM colcrypt.baselines") + \
        scalar(conn, "SELECT count(*) FROM colcrypt.baseline_comparisons") == before


def test_replace_measures_again(conn):
    capture(conn, "again", seconds=1)
    first = scalar(conn, "SELECT captured_at FROM colcrypt.baselines WHERE label = 'again'")
    capture(conn, "again", seconds=1, p_replace=True)
    assert scalar(conn, "SELECT captured_at FROM colcrypt.baselines WHERE label = 'again'") > first


def test_a_stale_snapshot_from_another_database_is_refused(db, cluster, conn):
    with psycopg.connect(cluster.dsn(), autocommit=True) as other:
        other.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
    start = scalar(conn, "SELECT colcrypt.baseline_snapshot()")
    start["database_name"] = "elsewhere"
    with raises_sqlstate("KC008", "another database"):
        conn.execute("SELECT colcrypt.capture_baseline('x', p_start => %s::jsonb)", (json.dumps(start),))


def test_cli_captures_replays_and_compares(db, tmp_path, capsys):
    workload = tmp_path / "workload.sql"
    workload.write_text("-- a read and a write\nSELECT count(*) FROM pg_class;\n"
                        "CREATE TEMP TABLE IF NOT EXISTS t (x int);\nINSERT INTO t\nVALUES (1);\n")
    assert main(["baseline", "--dsn", db.dsn, "--label", "cli", "--duration", "2", "--workload", str(workload),
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["latency_source"].startswith("replayed workload")
    assert out["metrics"]["workload_calls"] > 20 and out["metrics"]["workload_errors"] == 0
    assert main(["baseline", "--dsn", db.dsn, "--label", "cli", "--duration", "2", "--workload", str(workload),
                 "--compare", "--latency", "1000", "--throughput", "-99", "--cpu", "1000"]) == 0
    out = capsys.readouterr().out
    assert "no metric beyond its threshold (against baseline 'cli')" in out and "latency_p95_ms" in out
    with load(db, SLOW, clients=4):
        status = main(["baseline", "--dsn", db.dsn, "--label", "cli", "--duration", "2", "--compare",
                       "--workload", str(tmp_path / "missing.sql")])
    assert status == 1 and "cannot read workload file" in capsys.readouterr().err


def test_cli_compare_exits_3_when_a_metric_fails(db, capsys):
    with load(db, FAST):
        assert main(["baseline", "--dsn", db.dsn, "--label", "idle-cli", "--duration", "2"]) == 0
    assert "stored baseline 'idle-cli'" in capsys.readouterr().out
    with load(db, SLOW):
        assert main(["baseline", "--dsn", db.dsn, "--label", "idle-cli", "--duration", "2", "--compare"]) == 3
    out = capsys.readouterr().out
    assert "FAILED:" in out and "tps" in out
