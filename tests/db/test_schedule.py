"""schedule_backfill(): pg_cron runs the backfill unattended, one job per worker, and removes the
jobs when done without cancelling a running one. pg_cron lives in the cluster's 'postgres'
database (cron.database_name)."""

import time

import psycopg
import pytest

from colcrypt.install import install
from colcrypt.keys import create_key
from tests.db.helpers import raises_sqlstate, scalar
from tests.db.test_prepare import decrypted, plaintext


def test_without_pg_cron_here_it_says_where_and_how(conn):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, ssn text)")
    conn.execute("SELECT colcrypt.prepare('t', ARRAY['ssn'], 'k')")
    with raises_sqlstate("KC010", "pg_cron is not installed in this database") as info:
        conn.execute("SELECT * FROM colcrypt.schedule_backfill('t', 2)")
    assert "cron.schedule_in_database('colcrypt-backfill-1-1'" in info.value.diag.message_hint
    with raises_sqlstate("KC008", "p_workers must be between 1 and 16"):
        conn.execute("SELECT * FROM colcrypt.schedule_backfill('t', 0)")


@pytest.mark.slow
def test_pg_cron_runs_the_backfill_and_unschedules_it(cluster):
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        install(conn)
        create_key(conn, "cron-k", kek_file=cluster.kek_file)
        conn.execute("SELECT colcrypt.grant_key('cron-k', 'postgres')")
        conn.execute("""
            CREATE SCHEMA crm;
            CREATE TABLE crm.customers (id bigint PRIMARY KEY, ssn text, email text);
            INSERT INTO crm.customers SELECT g, lpad(g::text, 9, '0'), 'u' || g || '@x.org'
            FROM generate_series(1, 20000) g;
            ANALYZE crm.customers;
            SELECT colcrypt.prepare('crm.customers', ARRAY['ssn', 'email'], 'cron-k');
        """)
        jobs = conn.execute("SELECT worker, jobid, job_name FROM colcrypt.schedule_backfill('crm.customers', 2)"
                            ).fetchall()
        assert [j[2] for j in jobs] == ["colcrypt-backfill-1-1", "colcrypt-backfill-1-2"]
        commands = [r[0] for r in conn.execute("SELECT command FROM cron.job ORDER BY jobid")]
        assert commands[1].startswith("CALL colcrypt.backfill('crm.customers', p_batch_size => 1000")
        assert "p_worker => 2, p_workers => 2" in commands[1]
        conn.execute("INSERT INTO crm.customers VALUES (30000, 'late', NULL)")  # the triggers take it
        deadline = time.monotonic() + 150
        while scalar(conn, "SELECT state FROM colcrypt.migrations") != "backfilled":
            assert time.monotonic() < deadline, conn.execute(
                "SELECT status, return_message FROM cron.job_run_details").fetchall()
            time.sleep(1)
        # Each job retired itself (a schedule that never fires); the other worker removed it...
        assert scalar(conn, "SELECT count(*) FROM cron.job WHERE schedule <> '0 0 31 2 *'") == 0
        time.sleep(1)
        assert scalar(conn, "SELECT passed FROM colcrypt.validate('crm.customers')") is True
        assert scalar(conn, "SELECT count(*) FROM cron.job") == 0  # ... and validate removed the last one
        runs = conn.execute("SELECT status, return_message FROM cron.job_run_details").fetchall()
        assert runs and all(r[0] == "succeeded" for r in runs), runs
        assert scalar(conn, "SELECT count(*) FROM colcrypt.backfill_ranges WHERE rows_done > 0") == 2
        assert decrypted(conn, cols=("ssn", "email")) == plaintext(conn, cols=("ssn", "email"))


def test_cleanup_waits_for_the_retention_with_a_daily_pg_cron_job(cluster):
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        install(conn)
        create_key(conn, "retain-k", kek_file=cluster.kek_file)
        conn.execute("SELECT colcrypt.grant_key('retain-k', 'postgres')")
        conn.execute("CREATE SCHEMA retained; CREATE TABLE retained.t (id int PRIMARY KEY, ssn text);"
                     " INSERT INTO retained.t SELECT g, 'ssn-' || g FROM generate_series(1, 100) g;"
                     " SELECT colcrypt.prepare('retained.t', ARRAY['ssn'], 'retain-k')")
        conn.execute("CALL colcrypt.backfill('retained.t')")
        for step in ("validate('retained.t')", "cutover('retained.t', 'reads')", "cutover('retained.t', 'writes')",
                     "finalize('retained.t')"):
            conn.execute(f"SELECT * FROM colcrypt.{step}")
        mid = scalar(conn, "SELECT migration_id FROM colcrypt.migrations WHERE state = 'finalized'")
        job = f"colcrypt-cleanup-{mid}"
        for _ in range(2):  # called again (as the job does), still one job
            first = conn.execute("SELECT * FROM colcrypt.cleanup('retained.t', '1 day')").fetchone()
            assert "kept without grants until" in first[1] and f"daily pg_cron job ({job})" in first[2]
        assert conn.execute("SELECT schedule, command FROM cron.job WHERE jobname = %s", (job,)).fetchall() == [
            ("17 3 * * *", "SELECT * FROM colcrypt.cleanup('retained.t', '1 day')")]
        assert scalar(conn, "SELECT to_regclass('retained.t_plaintext') IS NOT NULL") is True
        conn.execute("SELECT * FROM colcrypt.cleanup('retained.t', '0')")  # due: dropped, the job removed
        assert scalar(conn, "SELECT count(*) FROM cron.job WHERE jobname = %s", (job,)) == 0
        assert scalar(conn, "SELECT to_regclass('retained.t_plaintext')") is None
        assert scalar(conn, "SELECT ssn FROM retained.t WHERE id = 7") == "ssn-7"
        conn.execute("DROP SCHEMA retained CASCADE")
