"""A server restart in the middle of a backfill: the checkpoint committed with each batch is
exactly what the shadow holds, and the next CALL finishes the job. On a cluster of its own."""

import threading
import time

import psycopg
import pytest

from colcrypt.cluster import throwaway
from colcrypt.install import install
from colcrypt.keys import create_key


@pytest.mark.slow
def test_server_restart_mid_backfill_resumes():
    cluster = throwaway("colcrypt-restart-")
    try:
        cluster.kek_file = cluster.init_with_local_kek({"fsync": "off"})
        cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            install(conn)
            create_key(conn, "k", kek_file=cluster.kek_file)
            conn.execute("SELECT colcrypt.grant_key('k', 'postgres')")
            conn.execute("""
                CREATE TABLE t (id int PRIMARY KEY, secret text);
                INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20000) g;
                SELECT colcrypt.prepare('t', ARRAY['secret'], 'k');
            """)

        def backfill():
            try:
                with psycopg.connect(cluster.dsn(), autocommit=True) as c:
                    c.execute("CALL colcrypt.backfill('t', p_batch_size => 100, p_sleep => '0.01 s',"
                              " p_target_batch => '1 microsecond')")
            except psycopg.OperationalError:
                pass  # the server went away: expected

        runner = threading.Thread(target=backfill)
        runner.start()
        deadline = time.monotonic() + 30
        with psycopg.connect(cluster.dsn(), autocommit=True) as watch:
            while watch.execute("SELECT coalesce(sum(batches), 0) FROM colcrypt.backfill_ranges").fetchone()[0] < 5:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        cluster.stop()  # fast shutdown: the backfill's backend is terminated mid-batch
        runner.join()
        cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            done, state = conn.execute("SELECT r.rows_done, m.state FROM colcrypt.backfill_ranges r"
                                       " JOIN colcrypt.migrations m USING (migration_id)").fetchone()
            assert 0 < done < 20000 and state == "backfilling"
            assert conn.execute("SELECT count(*) FROM t_encrypted").fetchone()[0] == done  # checkpoint == data
            conn.execute("CALL colcrypt.backfill('t')")
            assert conn.execute("SELECT total, valid, passed FROM colcrypt.validate('t')").fetchone() == \
                (20000, 20000, True)
            assert conn.execute("SELECT rows_done FROM colcrypt.backfill_ranges").fetchone()[0] == 20000
    finally:
        cluster.destroy()
