"""Issue 6's acceptance on a migrated table: while an application writes through it and a backfill
runs, the KEK is rotated to the HSM (rewrap), the data key is rotated, the values are re-encrypted,
and validation is clean (race scenario 15: a key rotation during a backfill). And a backfill run by
pg_cron unwraps an HSM key server-side."""

import threading
import time

import psycopg

from colcrypt.install import install
from colcrypt.keys import create_key, rewrap_key, rotate_key
from tests.db.helpers import scalar

VERSIONS_SQL = """SELECT DISTINCT substring(ssn_encrypted FROM 4 + get_byte(ssn_encrypted, 2) FOR 4)
FROM people_encrypted WHERE ssn_encrypted IS NOT NULL"""


def test_rewrap_and_rotate_during_a_backfill_under_a_write_load(db, conn, softhsm, server_providers):
    create_key(conn, "online", "local", kek_file=db.kek_file)
    conn.execute("SELECT colcrypt.grant_key('online', 'postgres')")
    conn.execute("CREATE TABLE people (id int PRIMARY KEY, ssn text, note text);"
                 " INSERT INTO people SELECT g, 'ssn-' || g, 'note ' || g FROM generate_series(1, 20000) g;"
                 " SELECT colcrypt.prepare('people', ARRAY['ssn', 'note'], 'online')")
    stop, errors, writes = threading.Event(), [], [0]

    def load():  # short sessions, as a pool's after DISCARD ALL: each loads the key as it is then
        i = 0
        while not stop.is_set():
            try:
                with db.connect() as c:
                    for _ in range(25):
                        i += 1
                        c.execute("UPDATE people SET ssn = %s WHERE id = %s", (f"new-{i}", 1 + (i * 7919) % 20000))
                        writes[0] += 1
            except psycopg.Error as e:
                errors.append(str(e))
                return

    def backfill():
        try:
            with db.connect() as c:
                c.execute("CALL colcrypt.backfill('people', p_batch_size => 200, p_sleep => '100 ms',"
                          " p_target_batch => '5 ms')")  # small batches: it runs for seconds
        except psycopg.Error as e:
            errors.append(f"backfill: {e}")

    threads = [threading.Thread(target=load), threading.Thread(target=backfill)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        rewrap_key(conn, "online", "pkcs11", kek=softhsm + "kek-1", old_kek_file=db.kek_file)  # KEK to the HSM
        time.sleep(0.3)
        assert rotate_key(conn, "online")["version"] == 2
        assert threads[1].is_alive(), errors  # the backfill is still running
        threads[1].join()
        time.sleep(0.5)  # and the application goes on writing
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == [] and writes[0] > 0, errors
    assert scalar(conn, "SELECT state FROM colcrypt.migrations") == "backfilled"
    assert len(conn.execute(VERSIONS_SQL).fetchall()) == 2  # both versions in use after the rotation
    conn.execute("CALL colcrypt.reencrypt('people', p_batch_size => 2000)")
    assert [bytes(v[0]) for v in conn.execute(VERSIONS_SQL).fetchall()] == [(2).to_bytes(4, "big")]
    total, valid, *bad = conn.execute("SELECT total, valid, mismatched, missing, orphaned"
                                      " FROM colcrypt.validate('people')").fetchone()
    assert bad == [0, 0, 0] and valid == total == 20000


def test_pg_cron_backfills_with_a_key_in_the_hsm(cluster, softhsm, server_providers):
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:  # pg_cron lives in 'postgres'
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        install(conn)
        create_key(conn, "cron-hsm", "pkcs11", kek=softhsm + "kek-2")
        conn.execute("SELECT colcrypt.grant_key('cron-hsm', 'postgres')")
        conn.execute("CREATE SCHEMA hsmcron; CREATE TABLE hsmcron.t (id int PRIMARY KEY, ssn text);"
                     " INSERT INTO hsmcron.t SELECT g, 'ssn-' || g FROM generate_series(1, 5000) g;"
                     " SELECT colcrypt.prepare('hsmcron.t', ARRAY['ssn'], 'cron-hsm')")
        conn.execute("SELECT colcrypt.schedule_backfill('hsmcron.t', 1)")
        deadline = time.monotonic() + 150
        while scalar(conn, "SELECT state FROM colcrypt.migrations WHERE table_name = 'hsmcron.t'") != "backfilled":
            assert time.monotonic() < deadline, conn.execute(
                "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3").fetchall()
            time.sleep(1)
        assert scalar(conn, "SELECT passed FROM colcrypt.validate('hsmcron.t')") is True
        conn.execute("SELECT colcrypt.rollback('hsmcron.t'); DROP SCHEMA hsmcron CASCADE")


def test_pg_cron_reencrypts_after_a_rotation_and_retires_its_job(cluster, softhsm, server_providers):
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:  # pg_cron lives in 'postgres'
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        install(conn)
        create_key(conn, "cron-rot", "pkcs11", kek=softhsm + "kek-1")
        conn.execute("SELECT colcrypt.grant_key('cron-rot', 'postgres')")
        conn.execute("CREATE SCHEMA rotcron; CREATE TABLE rotcron.t (id int PRIMARY KEY, ssn text);"
                     " INSERT INTO rotcron.t SELECT g, 'ssn-' || g FROM generate_series(1, 3000) g;"
                     " SELECT colcrypt.prepare('rotcron.t', ARRAY['ssn'], 'cron-rot')")
        conn.execute("CALL colcrypt.backfill('rotcron.t')")
        rotate_key(conn, "cron-rot")
        conn.execute("SELECT colcrypt.schedule_reencrypt('rotcron.t', 500)")
        deadline = time.monotonic() + 150
        while conn.execute("SELECT count(*) FROM cron.job WHERE jobname LIKE 'colcrypt-reencrypt-%'"
                           " AND schedule = '* * * * *'").fetchone()[0]:
            assert time.monotonic() < deadline, conn.execute(
                "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3").fetchall()
            time.sleep(1)  # until a pass found nothing left and retired the job
        assert conn.execute("SELECT version, sum(value_count) FROM colcrypt.key_usage('cron-rot') GROUP BY 1"
                            ).fetchall() == [(2, 3000)]
        assert scalar(conn, "SELECT passed FROM colcrypt.validate('rotcron.t')") is True
        conn.execute("CALL colcrypt.reencrypt('rotcron.t')")  # a manual pass removes the retired job
        assert scalar(conn, "SELECT count(*) FROM cron.job WHERE jobname LIKE 'colcrypt-reencrypt-%'") == 0
        conn.execute("SELECT colcrypt.rollback('rotcron.t'); DROP SCHEMA rotcron CASCADE")
