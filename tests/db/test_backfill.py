"""CALL colcrypt.backfill(): complete, resumable, split between workers, giving way to the
application, and exact under a concurrent write load checked against a mirror table."""

import random
import threading
import time

import psycopg
import pytest

from tests.db.helpers import raises_sqlstate, scalar
from tests.db.test_prepare import decrypted, plaintext

ROWS = 5000
TABLE = f"""
CREATE SCHEMA crm;
CREATE TABLE crm.customers (id bigint PRIMARY KEY, name text NOT NULL, ssn text, email varchar(80), born date);
INSERT INTO crm.customers SELECT g, 'n' || g, CASE WHEN g % 10 <> 0 THEN lpad(g::text, 3, '0') || '-45-6789' END,
       'u' || g || '@x.org', DATE '1970-01-01' + g FROM generate_series(1, {ROWS}) g;
"""


@pytest.fixture
def crm(conn):
    conn.execute(TABLE)
    conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn', 'email', 'born'], 'k')")
    return conn


def call(conn, **kw):
    args = "".join(f", p_{k} => %({k})s" for k in kw)
    conn.execute(f"CALL colcrypt.backfill('crm.customers'{args})", kw)


def test_backfill_copies_every_row_encrypted(crm):
    call(crm, batch_size=700)
    assert decrypted(crm) == plaintext(crm)
    assert scalar(crm, "SELECT state FROM colcrypt.migrations") == "backfilled"
    p = crm.execute("SELECT phase, rows_total, rows_done, percent, batches, workers, eta FROM colcrypt.progress"
                    ).fetchone()
    assert p[:4] == ("backfilled", ROWS, ROWS, 100) and p[4] >= 2 and p[5] == 1 and p[6] is None
    assert scalar(crm, "SELECT count(*) FROM crm.customers_encrypted"
                       " WHERE position(convert_to('-45-6789', 'UTF8') IN ssn_encrypted) > 0") == 0
    assert scalar(crm, "SELECT count(DISTINCT migration_status) FROM crm.customers_encrypted") == 1
    events = [r[0] for r in crm.execute("SELECT event FROM colcrypt.migration_events WHERE migration_id IS NOT NULL"
                                        " ORDER BY event_id")]
    assert events == ["prepare", "backfill ranges", "state backfilling", "state backfilled"]
    call(crm)  # again: nothing to do, nothing changes
    assert scalar(crm, "SELECT sum(rows_done) FROM colcrypt.backfill_ranges") == ROWS


def test_rows_the_application_wrote_ahead_are_kept_and_the_rest_copied(crm):
    # Scattered rows written by the trigger ahead of the backfill: batches whose key span holds some
    # check each row; batches whose span holds none skip the check. Neither overwrites a trigger row.
    crm.execute("UPDATE crm.customers SET ssn = 'app-' || id WHERE id % 997 = 0 OR id BETWEEN 4100 AND 4110")
    call(crm, batch_size=300)
    assert decrypted(crm) == plaintext(crm)
    statuses = dict(crm.execute("SELECT migration_status, count(*) FROM crm.customers_encrypted GROUP BY 1"))
    assert statuses == {"dual_write": 5 + 11, "backfilled": ROWS - 16}
    assert crm.execute("SELECT rows_done, retries FROM colcrypt.backfill_ranges").fetchone() == (ROWS, 0)


def test_backfill_resumes_where_it_stopped(crm):
    call(crm, batch_size=100, max_runtime="1 microsecond")  # one batch, however short the time
    done = scalar(crm, "SELECT rows_done FROM colcrypt.backfill_ranges")
    assert done == 100 and scalar(crm, "SELECT state FROM colcrypt.migrations") == "backfilling"
    assert scalar(crm, "SELECT count(*) FROM crm.customers_encrypted") == done
    call(crm, batch_size=1000)
    assert decrypted(crm) == plaintext(crm)
    assert scalar(crm, "SELECT rows_done FROM colcrypt.backfill_ranges") == ROWS  # nothing copied twice


def test_workers_split_the_key_space(crm):
    for worker in (1, 2, 3):
        call(crm, workers=3, worker=worker, batch_size=500)
        state = scalar(crm, "SELECT state FROM colcrypt.migrations")
        assert state == ("backfilled" if worker == 3 else "backfilling")
    ranges = crm.execute("SELECT lower_key, upper_key, rows_done FROM colcrypt.backfill_ranges ORDER BY worker"
                         ).fetchall()
    assert ranges[0][0] is None and ranges[2][1] == [str(ROWS)]
    assert ranges[0][1] == ranges[1][0] and ranges[1][1] == ranges[2][0]  # adjacent, no overlap
    assert sum(r[2] for r in ranges) == ROWS and all(r[2] > 500 for r in ranges)
    assert decrypted(crm) == plaintext(crm)
    with raises_sqlstate("KC018", "state backfilled"):
        crm.execute("SELECT colcrypt.schedule_backfill('crm.customers', 2)")


def test_a_different_worker_count_is_refused(crm):
    call(crm, workers=2, worker=1, max_runtime="1 microsecond")
    with raises_sqlstate("KC008", "split between 2 workers, not 3"):
        call(crm, workers=3, worker=1)


@pytest.mark.parametrize(("kw", "match"), [
    ({"worker": 3, "workers": 2}, "p_worker must be between 1 and p_workers"),
    ({"batch_size": 10}, "p_batch_size must be between"),
    ({"target_batch": "0 s"}, "must be positive"),
])
def test_bad_arguments(crm, kw, match):
    with raises_sqlstate("KC008", match):
        call(crm, **kw)
    assert scalar(crm, "SELECT count(*) FROM colcrypt.backfill_ranges") == 0


def test_backfill_of_a_table_not_being_migrated(conn):
    conn.execute("CREATE TABLE plain (id int PRIMARY KEY)")
    for name in ("plain", "nope", ""):
        with raises_sqlstate("KC017" if name else "KC008"):
            conn.execute("CALL colcrypt.backfill(%s)", (name,))


def test_the_batch_gives_way_to_the_application(db, crm):
    """An application transaction holds a row lock the batch needs: the batch retries with smaller
    batches; the application transaction never fails."""
    with db.connect(autocommit=False) as app:
        app.execute("UPDATE crm.customers SET name = 'busy' WHERE id = 1500")  # row lock held, uncommitted
        call(crm, batch_size=1000, max_runtime="1.5 s")
        p = crm.execute("SELECT rows_done, retries, throttled FROM colcrypt.progress").fetchone()
        # (throttled says "lock conflict" until the next batch that succeeds, so it may be clear again)
        assert p[0] < 1500 and p[1] >= 2 and (p[2] is None or "lock conflict" in p[2])
        app.execute("UPDATE crm.customers SET ssn = 'changed' WHERE id = 1500")
        app.commit()
    call(crm)
    assert decrypted(crm) == plaintext(crm) and decrypted(crm)[1500][0] == "changed"


def test_pause_stops_within_a_batch_and_resume_continues(db, crm):
    crm.execute("SELECT colcrypt.pause('crm.customers', 'peak hours')")
    call(crm)
    p = crm.execute("SELECT rows_done, paused, pause_reason, throttled FROM colcrypt.progress").fetchone()
    assert p == (0, True, "peak hours", "paused: peak hours")
    crm.execute("SELECT colcrypt.resume('crm.customers')")
    call(crm)
    assert decrypted(crm) == plaintext(crm)
    with raises_sqlstate("KC017"):
        crm.execute("SELECT colcrypt.pause('crm.nope')")


def test_killed_backend_resumes_without_gaps_or_duplicates(db, crm):
    pid = []

    def run():
        with db.connect() as c:
            pid.append(c.info.backend_pid)
            try:
                c.execute("CALL colcrypt.backfill('crm.customers', p_batch_size => 50, p_sleep => '0.02 s',"
                          " p_target_batch => '1 microsecond')")  # batches stay at 50 rows
            except psycopg.OperationalError:
                pass

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 20
    while scalar(crm, "SELECT coalesce(sum(batches), 0) FROM colcrypt.backfill_ranges") < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    crm.execute("SELECT pg_terminate_backend(%s)", (pid[0],))
    t.join()
    done = scalar(crm, "SELECT rows_done FROM colcrypt.backfill_ranges")
    assert 0 < done < ROWS and scalar(crm, "SELECT count(*) FROM crm.customers_encrypted") == done
    call(crm)
    assert decrypted(crm) == plaintext(crm)
    assert scalar(crm, "SELECT rows_done FROM colcrypt.backfill_ranges") == ROWS


def _load(dsn: str, stop: threading.Event, errors: list, seed: int):
    """Random application writes through the table's name, each transaction also writing a mirror
    and reading back what it wrote."""
    rng = random.Random(seed)  # noqa: S311 - test load
    with psycopg.connect(dsn, autocommit=True) as c:
        while not stop.is_set():
            op = rng.random()
            k = rng.randint(1, 120_000)
            try:
                with c.transaction():
                    if op < 0.3:
                        back = c.execute("INSERT INTO crm.customers (id, name, ssn, email) VALUES (%s, 'new', %s,"
                                         " NULL) ON CONFLICT (id) DO NOTHING RETURNING ssn",
                                         (k + 200_000, f"{k:09d}")).fetchall()
                        if back and back[0][0] != f"{k:09d}":
                            errors.append(f"RETURNING gave {back} for {k}")
                        c.execute("INSERT INTO crm.mirror SELECT id, ssn, email FROM crm.customers WHERE id = %s"
                                  " ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn, email = excluded.email",
                                  (k + 200_000,))
                    elif op < 0.65:
                        ssn = None if rng.random() < 0.2 else f"u{k}-{rng.randint(0, 99)}"
                        c.execute("UPDATE crm.customers SET ssn = %s, email = NULL WHERE id = %s", (ssn, k))
                        c.execute("UPDATE crm.mirror SET ssn = %s, email = NULL WHERE id = %s", (ssn, k))
                        read = c.execute("SELECT ssn FROM crm.customers WHERE id = %s", (k,)).fetchall()
                        if read and read[0][0] != ssn:
                            errors.append(f"read {read} after writing {ssn!r} to {k}")
                    elif op < 0.8:
                        c.execute("DELETE FROM crm.customers WHERE id = %s", (k,))
                        c.execute("DELETE FROM crm.mirror WHERE id = %s", (k,))
                    else:  # key change to a fresh key
                        new = 400_000 + seed * 10_000_000 + rng.randint(0, 10**6)  # disjoint per thread
                        moved = c.execute("UPDATE crm.customers SET id = %s WHERE id = %s AND NOT EXISTS"
                                          " (SELECT FROM crm.customers WHERE id = %s)", (new, k, new)).rowcount
                        if moved:
                            c.execute("UPDATE crm.mirror SET id = %s WHERE id = %s", (new, k))
            except psycopg.Error as e:
                errors.append(str(e))


@pytest.mark.slow
def test_concurrent_random_load_loses_nothing(db, conn, app_role):
    """An application role without the key writes through the table's name the whole time: before
    prepare, during it and during a two-worker backfill."""
    conn.execute(f"""
        CREATE SCHEMA crm;
        CREATE TABLE crm.customers (id bigint PRIMARY KEY, name text NOT NULL, ssn text, email text);
        INSERT INTO crm.customers SELECT g, 'n' || g, lpad(g::text, 9, '0'), 'u' || g || '@x.org'
        FROM generate_series(1, 120000) g;
        CREATE TABLE crm.mirror AS SELECT id, ssn, email FROM crm.customers;
        ALTER TABLE crm.mirror ADD PRIMARY KEY (id);
        GRANT USAGE ON SCHEMA crm TO {app_role};
        GRANT SELECT, INSERT, UPDATE, DELETE ON crm.customers, crm.mirror TO {app_role};
    """)
    stop, errors = threading.Event(), []
    app_dsn = db.dsn.replace("user=postgres", f"user={app_role}")
    threads = [threading.Thread(target=_load, args=(app_dsn, stop, errors, seed)) for seed in (1, 2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn', 'email'], 'k')")
        conn.execute("CALL colcrypt.backfill('crm.customers', p_batch_size => 2000, p_workers => 2, p_worker => 1)")
        conn.execute("CALL colcrypt.backfill('crm.customers', p_batch_size => 2000, p_workers => 2, p_worker => 2)")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    # the load really ran during the backfill: inserts, key changes and deletes all happened
    assert scalar(conn, "SELECT count(*) FROM crm.mirror WHERE id BETWEEN 200001 AND 400000") > 20
    assert scalar(conn, "SELECT count(*) FROM crm.mirror WHERE id > 400000") > 5
    assert scalar(conn, "SELECT count(*) FROM crm.mirror WHERE id <= 120000") < 120000 - 5
    cols = ("ssn", "email")
    assert plaintext(conn, cols=cols) == plaintext(conn, "crm.mirror", cols=cols)  # the application's own record
    assert decrypted(conn, cols=cols) == plaintext(conn, cols=cols)  # zero lost, orphaned or stale rows
    assert scalar(conn, "SELECT state FROM colcrypt.migrations") == "backfilled"
    v = conn.execute("SELECT mismatched, missing, orphaned, passed FROM colcrypt.validate('crm.customers')").fetchone()
    assert v == (0, 0, 0, True)
    assert scalar(conn, "SELECT count(*) FROM crm.customers_encrypted WHERE position(convert_to(lpad('77', 9, '0'),"
                        " 'UTF8') IN ssn_encrypted) > 0") == 0  # no plaintext in the shadow


def test_the_keys_a_batch_unwraps_stay_for_the_next(conn):
    """Each batch runs as the table's owner, in a setting level reverted after it (colcrypt._as_owner); the key
    cache's handle must outlive it, or every batch would unwrap the key again (an HSM or KMS round trip)."""
    conn.execute("CREATE TABLE kept (id int PRIMARY KEY, ssn text);"
                 " INSERT INTO kept SELECT g, 's' || g::text FROM generate_series(1, 3000) g")
    conn.execute("SELECT colcrypt.prepare('kept', ARRAY['ssn'], 'k')")
    conn.execute("SELECT colcrypt.forget_keys()")
    conn.execute("CALL colcrypt.backfill('kept', p_batch_size => 100, p_target_batch => '1 ms')")
    assert scalar(conn, "SELECT batches FROM colcrypt.backfill_ranges") > 10
    assert conn.execute("SELECT key_id, source FROM colcrypt.loaded_keys()").fetchall() == [("k", "server")]
