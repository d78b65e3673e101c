"""Baseline capture and comparison, with and without pg_stat_statements. Loads run an exact number
of transactions and flush their statistics before the window closes, so counts are not timing."""

import json
import threading
import time

import pytest

from colcrypt.cli import main
from tests.db.helpers import raises_sqlstate, scalar

# PostgreSQL 15 counts a session's transactions in pg_stat_database only when it also has table
# statistics to report, so the loads read a table, as real applications do.
FAST = "SELECT relname FROM pg_class LIMIT 1"
WIDE_OPEN = '{"latency": 100000, "throughput": -100, "cpu": 100000}'  # judged by the stored limits, never by noise


def run_load(db, statement: str, transactions: int, clients: int = 2) -> None:
    """clients sessions each run `transactions` transactions, then flush their statistics."""
    def client():
        with db.connect() as c:
            for _ in range(transactions):
                c.execute(statement)
            c.execute("SELECT pg_stat_force_next_flush()")  # flushed before the server says ready

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def window(conn, db, label, transactions=300, pause=0.0, compare=False, **kw):
    """Snapshot, run the load (and wait), then capture or compare with that snapshot as p_start."""
    start = scalar(conn, "SELECT colcrypt.baseline_snapshot()")
    run_load(db, FAST, transactions)
    time.sleep(pause)
    conn.execute("SELECT pg_stat_force_next_flush()")
    args = "".join(f", {k} => %({k})s" for k in kw)
    params = {"label": label, "start": json.dumps(start), **kw}
    if compare:
        cur = conn.execute(f"SELECT * FROM colcrypt.compare_baseline(%(label)s, p_start => %(start)s{args})", params)
        return {r[0]: r for r in cur.fetchall()}
    return conn.execute(f"SELECT metrics, notes FROM colcrypt.capture_baseline(%(label)s, p_start => %(start)s"
                        f"{args})", params).fetchone()


def test_capture_with_pg_stat_statements(db, conn):
    metrics, notes = window(conn, db, "before")
    assert metrics["latency_source"].startswith("pg_stat_statements")
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"] <= metrics["latency_p99_ms"]
    assert metrics["transactions"] >= 600 and metrics["statement_calls"] >= 600 and metrics["tps"] > 0
    assert metrics["cpu_s_per_s"] > 0 and metrics["cpu_ms_per_transaction"] > 0
    assert metrics["blks_hit_per_s"] > 0
    assert not any("pg_stat_statements" in n for n in notes)
    assert scalar(conn, "SELECT thresholds FROM colcrypt.baselines WHERE label = 'before'") == \
        {"latency": 10.0, "throughput": -10.0, "cpu": 15.0}


def test_capture_over_a_duration(conn):
    row = conn.execute("SELECT window_s, metrics ? 'tps', notes FROM colcrypt.capture_baseline('idle', '1 s')"
                       ).fetchone()
    assert 1.0 <= row[0] and row[1] is True
    assert any("short" in n for n in row[2])  # the server says what a 1 s window is worth


def test_capture_without_pg_stat_statements_says_how_to_enable_it(db, conn):
    conn.execute("DROP EXTENSION pg_stat_statements")
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    metrics, notes = window(conn, db, "reduced")
    assert metrics["latency_source"] == "pg_stat_database.active_time per transaction"
    assert metrics["latency_mean_ms"] > 0 and "latency_p95_ms" not in metrics
    assert metrics["transactions"] >= 600 and metrics["cpu_ms_per_transaction"] > 0
    assert any("CREATE EXTENSION pg_stat_statements" in n for n in notes)
    assert any("CREATE EXTENSION pg_stat_statements" in n for n in notices)


def test_compare_fails_a_throughput_drop_and_records_it(db, conn):
    window(conn, db, "busy", transactions=400)
    rows = window(conn, db, "busy", transactions=40, pause=2.0, compare=True)  # 80 transactions in > 2 s
    assert rows["tps"][5] is False and rows["tps"][3] < -10 and rows["tps"][4] == -10.0
    assert "colcrypt.pause()" in rows["tps"][6]
    assert rows["blks_hit_per_s"][5] is None and rows["blks_hit_per_s"][6] == "informational"
    stored = scalar(conn, "SELECT results FROM colcrypt.baseline_comparisons WHERE comparison_id = %s",
                    (rows["tps"][7],))
    assert {r["metric"]: r["passed"] for r in stored}["tps"] is False


def test_compare_fails_slower_client_latency(db, conn):
    fast = json.dumps({"latencies_ms": [1.0] * 100, "calls": 100, "errors": 0})
    slow = json.dumps({"latencies_ms": [1.5] * 100, "calls": 100, "errors": 0})
    window(conn, db, "client", p_workload=fast)
    rows = window(conn, db, "client", p_workload=slow, compare=True)
    assert rows["latency_p50_ms"][5] is False and rows["latency_p50_ms"][3] == 50.0
    assert "blind index" in rows["latency_p50_ms"][6]
    assert rows["workload_error_rate"][5] is True


def test_compare_passes_within_configured_thresholds(db, conn):
    window(conn, db, "same", p_thresholds=WIDE_OPEN)
    rows = window(conn, db, "same", compare=True)
    judged = {m: r for m, r in rows.items() if r[4] is not None}
    assert set(judged) >= {"latency_p95_ms", "tps", "cpu_ms_per_transaction"}
    assert all(r[5] is True for r in judged.values()), judged
    assert judged["tps"][4] == -100.0 and judged["cpu_ms_per_transaction"][4] == 100000.0


def test_compare_does_not_judge_an_idle_window(conn):
    conn.execute("SELECT colcrypt.capture_baseline('idle', p_start => colcrypt.baseline_snapshot())")
    rows = conn.execute("SELECT metric, passed, recommendation FROM colcrypt.compare_baseline('idle', '1 s')"
                        " WHERE limit_pct IS NOT NULL").fetchall()
    assert rows and all(r[1] is None for r in rows)
    assert any("too few transactions" in r[2] for r in rows)


def test_window_driven_by_the_caller_with_workload_timings(db, conn):
    workload = json.dumps({"latencies_ms": [1.0] * 90 + [5.0] * 9 + [50.0], "calls": 100, "errors": 0})
    metrics, _ = window(conn, db, "replayed", p_workload=workload)
    assert metrics["latency_source"].startswith("replayed workload")
    assert (metrics["latency_p50_ms"], metrics["latency_p95_ms"], metrics["latency_p99_ms"]) == (1.0, 5.0, 5.0)
    assert metrics["workload_calls"] == 100 and metrics["transactions"] >= 600


SNAPSHOT = "colcrypt.baseline_snapshot()"


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
    ("SELECT colcrypt.capture_baseline('x', '1 s', '[1]')", "KC008", "JSON object"),
    ("SELECT * FROM colcrypt.compare_baseline('dup', '1 s', '[1]')", "KC008", "JSON object"),
    ("SELECT colcrypt.capture_baseline('x', p_start => '{\"at\": 1}')", "KC008", "not a snapshot"),
    ("SELECT colcrypt.capture_baseline('x', p_start => " + SNAPSHOT + " || '{\"at\": \"x\"}')", "KC008",
     "not a snapshot"),
    ("SELECT colcrypt.capture_baseline('x', p_start => " + SNAPSHOT + " || '{\"database\": {}}')", "KC008",
     "not a snapshot"),
    ("SELECT colcrypt.capture_baseline('x', p_start => " + SNAPSHOT + " || '{\"database_name\": \"other\"}')",
     "KC008", "taken in database 'other'"),
    ("SELECT colcrypt.capture_baseline('x', p_start => jsonb_set(" + SNAPSHOT + ", '{at}', '1000'))", "KC008",
     "not from the last hour"),
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
    conn.execute("SELECT colcrypt.capture_baseline('again', p_start => colcrypt.baseline_snapshot())")
    first = scalar(conn, "SELECT captured_at FROM colcrypt.baselines WHERE label = 'again'")
    conn.execute("SELECT colcrypt.capture_baseline('again', p_start => colcrypt.baseline_snapshot(),"
                 " p_replace => true)")
    assert scalar(conn, "SELECT captured_at FROM colcrypt.baselines WHERE label = 'again'") > first


def test_cli_captures_replays_and_compares(db, tmp_path, capsys):
    workload = tmp_path / "workload.sql"
    workload.write_text("-- a read and a write\nSELECT count(*) FROM pg_class;\n"
                        "CREATE TEMP TABLE IF NOT EXISTS t (x int);\nINSERT INTO t\nVALUES (1);\n")
    assert main(["baseline", "--dsn", db.dsn, "--label", "cli", "--duration", "2", "--workload", str(workload),
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["latency_source"].startswith("replayed workload")
    assert out["metrics"]["workload_calls"] > 0 and out["metrics"]["workload_errors"] == 0
    assert main(["baseline", "--dsn", db.dsn, "--label", "cli", "--duration", "2", "--workload", str(workload),
                 "--compare", "--latency", "100000", "--throughput", "-100", "--cpu", "100000"]) == 0
    out = capsys.readouterr().out
    assert "no metric beyond its threshold (against baseline 'cli')" in out and "latency_p95_ms" in out


def test_cli_checks_before_it_measures(db, tmp_path, capsys):
    assert main(["baseline", "--dsn", db.dsn, "--label", "c", "--duration", "1"]) == 0
    capsys.readouterr()
    for argv, code, text in (
        (["--label", "c"], "KC012", "'c' already exists"),
        (["--label", "nope", "--compare"], "KC013", "no baseline 'nope'"),
        (["--label", "n", "--throughput", "5"], "KC008", "negative"),
        (["--label", "n", "--duration", "4000"], "KC008", "--duration"),
        (["--label", "n", "--workload", str(tmp_path / "missing.sql")], "58P01", "cannot read workload file"),
    ):
        started = time.monotonic()
        assert main(["baseline", "--dsn", db.dsn, "--duration", "30", *argv]) == 1, argv
        err = capsys.readouterr().err
        assert f"error [{code}]" in err and text in err and "HINT:" in err, err
        assert time.monotonic() - started < 25  # refused before the 30 s window, not after


def test_cli_fails_a_workload_whose_statements_fail(db, tmp_path, capsys):
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT * FROM no_such_table;\n")
    assert main(["baseline", "--dsn", db.dsn, "--label", "bad", "--duration", "1", "--workload", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "no statement of the workload succeeded" in err and "no_such_table" in err
    with db.connect() as c:
        assert scalar(c, "SELECT count(*) FROM colcrypt.baselines WHERE label = 'bad'") == 0


def test_cli_compare_exits_3_when_a_metric_fails(db, tmp_path, capsys):
    fast = tmp_path / "fast.sql"
    fast.write_text("SELECT relname FROM pg_class LIMIT 1;\n")
    slow = tmp_path / "slow.sql"
    slow.write_text("SELECT relname, pg_sleep(0.02) FROM pg_class LIMIT 1;\n")
    assert main(["baseline", "--dsn", db.dsn, "--label", "w", "--duration", "2", "--workload", str(fast)]) == 0
    capsys.readouterr()
    assert main(["baseline", "--dsn", db.dsn, "--label", "w", "--duration", "2", "--workload", str(slow),
                 "--compare"]) == 3
    out = capsys.readouterr().out
    assert "FAILED:" in out and "- latency_p50_ms:" in out
