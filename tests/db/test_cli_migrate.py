"""The migration verbs of the CLI: prepare, backfill with a progress bar, validate, status."""

import json

from colcrypt.cli import main
from tests.db.test_backfill import ROWS, TABLE


def test_prepare_backfill_validate_status(db, conn, capsys):
    conn.execute(TABLE)
    assert main(["prepare", "--dsn", db.dsn, "crm.customers", "ssn", "email", "--key", "k"]) == 0
    assert "now writes every change to" in capsys.readouterr().out
    assert main(["status", "--dsn", db.dsn]) == 0
    assert "dual_write" in capsys.readouterr().out
    assert main(["backfill", "--dsn", db.dsn, "crm.customers", "--workers", "2", "--batch-size", "200",
                 "--progress"]) == 0
    out, err = capsys.readouterr()
    assert f"backfilled, {ROWS:,} rows copied" in out
    assert "backfill crm.customers [" in err and "100.0%" in err
    assert main(["validate", "--dsn", db.dsn, "crm.customers"]) == 0
    assert f"{ROWS:,} valid, 0 mismatched, 0 missing, 0 orphaned" in capsys.readouterr().out
    assert main(["status", "--dsn", db.dsn, "--format", "json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["migrations"][0]["phase"] == "validated" and state["migrations"][0]["validation_passed"] is True
    assert state["performance"] is None and state["alerts"] == []
    conn.execute("DELETE FROM crm.customers_encrypted WHERE id = 7")
    assert main(["validate", "--dsn", db.dsn, "crm.customers", "--format", "json"]) == 3
    assert json.loads(capsys.readouterr().out)["examples"]["missing"] == ["7"]
    conn.execute("SELECT colcrypt.capture_baseline('b', p_start => colcrypt.baseline_snapshot())")
    conn.execute("SELECT * FROM colcrypt.compare_baseline('b', p_start => colcrypt.baseline_snapshot())")
    assert main(["status", "--dsn", db.dsn]) == 0
    out = capsys.readouterr().out
    assert "INVALID" in out and "validation found differences" in out
    assert "performance against baseline 'b'" in out
    # a trend over the comparisons with that baseline, oldest first
    conn.execute("UPDATE colcrypt.baseline_comparisons SET results = jsonb_build_array(jsonb_build_object("
                 "'metric', 'tps', 'change_pct', -2.5, 'passed', true))")
    conn.execute("INSERT INTO colcrypt.baseline_comparisons (label, current_metrics, thresholds, results)"
                 " SELECT label, current_metrics, thresholds, jsonb_build_array(jsonb_build_object("
                 "'metric', 'tps', 'change_pct', -12.0, 'passed', false)) FROM colcrypt.baseline_comparisons")
    assert main(["status", "--dsn", db.dsn, "--format", "json"]) == 0
    perf = json.loads(capsys.readouterr().out)["performance"]
    assert perf["trend"] == {"tps": [-2.5, -12.0]} and perf["failed"] == ["tps"]
    assert main(["status", "--dsn", db.dsn]) == 0
    out = capsys.readouterr().out
    assert "tps" in out and "-2.5% -> -12.0%" in out and "! performance against baseline 'b': tps beyond" in out


def test_errors_are_reported_with_their_hint(db, capsys):
    assert main(["backfill", "--dsn", db.dsn, "nope.table"]) == 1
    err = capsys.readouterr().err
    assert "error [KC017]" in err and "HINT:" in err


def test_cutover_and_rollback(db, conn, capsys):
    conn.execute(TABLE)
    assert main(["baseline", "--dsn", db.dsn, "--label", "before", "--duration", "1", "--format", "json"]) == 0
    assert main(["prepare", "--dsn", db.dsn, "crm.customers", "ssn", "--key", "k"]) == 0
    assert main(["backfill", "--dsn", db.dsn, "crm.customers"]) == 0
    assert main(["cutover", "--dsn", db.dsn, "crm.customers"]) == 1  # not validated yet
    assert "error [KC022]" in capsys.readouterr().err
    assert main(["validate", "--dsn", db.dsn, "crm.customers"]) == 0
    capsys.readouterr()
    assert main(["preflight", "--dsn", db.dsn, "crm.customers", "--format", "json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
    assert main(["cutover", "--dsn", db.dsn, "crm.customers", "--stage", "reads"]) == 0
    assert "reads cut over in" in capsys.readouterr().out
    assert main(["validate", "--dsn", db.dsn, "crm.customers", "--performance", "--baseline", "before",
                 "--duration", "1"]) == 0  # an idle database: nothing beyond a threshold
    out = capsys.readouterr().out
    assert f"{ROWS:,} valid" in out and "against baseline 'before'" in out
    assert conn.execute("SELECT count(*) FROM colcrypt.baseline_comparisons WHERE label = 'before'").fetchone() == (1,)
    assert main(["backfill", "--dsn", db.dsn, "crm.customers"]) == 1  # found by the name, now a view
    assert "cutover_reads" in capsys.readouterr().err
    assert main(["rollback", "--dsn", db.dsn, "crm.customers"]) == 0
    assert "rolled back from cutover_reads" in capsys.readouterr().out
    assert conn.execute("SELECT relkind::text FROM pg_class WHERE oid = 'crm.customers'::regclass").fetchone() == ("r",)


def test_finalize_and_cleanup(db, conn, capsys):
    conn.execute(TABLE)
    conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('crm.customers')")
    conn.execute("SELECT colcrypt.validate('crm.customers')")
    assert main(["cleanup", "--dsn", db.dsn, "crm.customers"]) == 1  # not finalized
    assert "error [KC018]" in capsys.readouterr().err
    for stage in ("reads", "writes", "finalize"):
        assert main(["cutover", "--dsn", db.dsn, "crm.customers", "--stage", stage]) == 0
        assert f"{stage} cut over in" in capsys.readouterr().out
    assert main(["cleanup", "--dsn", db.dsn, "crm.customers"]) == 0
    assert "kept without grants until" in capsys.readouterr().out
    assert main(["cleanup", "--dsn", db.dsn, "crm.customers", "--retain", "0", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["detail"] == "crm.customers_plaintext dropped" and all(r["action"] for r in report)
    assert conn.execute("SELECT state FROM colcrypt.migrations").fetchone() == ("cleaned",)


def test_gradual_rollback_stops_when_unstable(db, conn, capsys, tmp_path):
    conn.execute(TABLE)
    conn.execute("CREATE TABLE crm.notes (id int PRIMARY KEY, body text); INSERT INTO crm.notes VALUES (1, 'x')")
    for table, col in (("crm.customers", "ssn"), ("crm.notes", "body")):
        conn.execute("SELECT colcrypt.prepare(%s, ARRAY[%s], 'k')", (table, col))
    good, failing = tmp_path / "good.sql", tmp_path / "failing.sql"
    good.write_text("SELECT count(*) FROM crm.notes;\n")
    failing.write_text("SELECT count(*) FROM crm.notes;\nSELECT 1 / 0;\n")  # now half the statements fail
    common = ["--dsn", db.dsn, "--duration", "1", "--workload", str(good)]
    # thresholds wide enough that one-second windows on a busy machine stay within them: only the
    # error rate (which timing cannot move) decides below
    assert main(["baseline", *common, "--label", "usual", "--latency", "1000", "--throughput", "-95", "--cpu", "1000",
                 "--format", "json"]) == 0
    unstable = ["--dsn", db.dsn, "--duration", "1", "--workload", str(failing)]
    assert main(["rollback", *unstable, "crm.customers", "crm.notes", "--gradual", "--baseline", "usual"]) == 3
    out, err = capsys.readouterr()
    assert "crm.customers: rolled back" in out and "ALERT: unstable after rolling back crm.customers" in err
    assert "workload_error_rate" in out
    live = conn.execute("SELECT table_name FROM colcrypt.migrations WHERE state <> 'rolled_back'").fetchall()
    assert live == [("crm.notes",)]  # stopped before it
    conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn'], 'k')")
    assert main(["rollback", *common, "crm.customers", "crm.notes", "--gradual", "--baseline", "usual"]) == 0
    assert "no metric beyond its threshold" in capsys.readouterr().out  # the check between them passed
    assert conn.execute("SELECT count(*) FROM colcrypt.migrations WHERE state <> 'rolled_back'").fetchone() == (0,)


def test_migrate_runs_every_step_and_resumes(db, conn, capsys):
    conn.execute(TABLE)
    conn.execute("CREATE TABLE crm.notes (id int PRIMARY KEY, body text);"
                 " INSERT INTO crm.notes SELECT g, 'note ' || g FROM generate_series(1, 500) g")
    assert main(["migrate", "--dsn", db.dsn, "crm.customers:nope", "--key", "k"]) == 1  # a column it lacks
    assert conn.execute("SELECT count(*) FROM colcrypt.migrations").fetchone() == (0,)
    conn.execute("SELECT colcrypt.prepare('crm.notes', ARRAY['body'], 'k')")  # an interrupted earlier run
    capsys.readouterr()
    assert main(["migrate", "--dsn", db.dsn, "crm.customers:ssn", "crm.notes:body", "--key", "k", "--workers", "2",
                 "--cutover"]) == 0
    out = capsys.readouterr().out
    assert "crm.customers: prepared" in out and "crm.notes: prepared" not in out  # resumed, not prepared again
    assert f"{ROWS:,} of {ROWS:,} rows valid" in out and "500 of 500 rows valid" in out
    assert dict(conn.execute("SELECT table_name, state FROM colcrypt.migrations").fetchall()) == {
        "crm.customers": "cutover_reads", "crm.notes": "cutover_reads"}
    assert main(["migrate", "--dsn", db.dsn, "crm.customers:ssn", "--key", "k", "--cutover"]) == 0  # nothing left
    assert "crm.customers: cutover_reads" in capsys.readouterr().out
    assert main(["migrate", "--dsn", db.dsn, "crm.customers", "--key", "k"]) == 1
    assert "does not name a table and its columns" in capsys.readouterr().err
