"""The race scenarios of correctness.md, made deterministic: a gate on the shadow table holds the
backfill's batch after it has read and locked its rows and before it inserts them, while another
session writes; then the gate opens and the outcome is checked row by row."""

import threading
import time

import psycopg
import pytest

from tests.db.helpers import column_context, scalar

SETUP = """
CREATE TABLE t (id int PRIMARY KEY, secret text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g;
SELECT colcrypt.prepare('t', ARRAY['secret'], 'k');
CREATE TABLE gate (closed boolean);
INSERT INTO gate VALUES (true);
CREATE FUNCTION wait_at_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.migration_status = 'backfilled' THEN  -- only the backfill's inserts wait, not the triggers'
        WHILE (SELECT closed FROM public.gate) LOOP PERFORM pg_sleep(0.01); END LOOP;  -- backfill pins search_path
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER gate BEFORE INSERT ON t_encrypted FOR EACH ROW EXECUTE FUNCTION wait_at_gate();
"""


def shadow(conn) -> dict:
    return dict(conn.execute("SELECT id, colcrypt.decrypt_column(secret_encrypted, %s || id::text) FROM t_encrypted",
                             (column_context(conn, "t", "secret") + "#",)).fetchall())


def state_of(conn, pid: int) -> tuple:
    return conn.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()


def wait_until(predicate, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Backfill:
    """CALL colcrypt.backfill in a thread, stopped at the gate."""

    def __init__(self, db, conn):
        self.conn, self.errors, self.pid = conn, [], None
        self.thread = threading.Thread(target=self._run, args=(db,))
        self.thread.start()
        wait_until(lambda: self.pid and state_of(conn, self.pid) == ("Timeout", "PgSleep"), "the batch at the gate")

    def _run(self, db):
        try:
            with db.connect() as c:
                self.pid = c.info.backend_pid
                c.execute("CALL colcrypt.backfill('t', p_batch_size => 1000)")
        except psycopg.Error as e:
            self.errors.append(e)

    def finish(self):
        self.conn.execute("UPDATE gate SET closed = false")
        self.thread.join()
        assert self.errors == []


class Writer:
    """An application statement in its own thread (it may have to wait for the batch)."""

    def __init__(self, db, sql, params=()):
        self.pid, self.errors, self.conn = None, [], db.connect(autocommit=False)
        self.pid = self.conn.info.backend_pid
        self.thread = threading.Thread(target=self._run, args=(sql, params))
        self.thread.start()

    def _run(self, sql, params):
        try:
            self.conn.execute(sql, params)
        except psycopg.Error as e:
            self.errors.append(e)

    def commit(self):
        self.thread.join()
        assert self.errors == []
        self.conn.commit()
        self.conn.close()

    def rollback(self):
        self.thread.join()
        self.conn.rollback()
        self.conn.close()


@pytest.fixture
def gated(conn):
    conn.execute(SETUP)
    return conn


def test_a_delete_waits_for_the_batch_then_removes_the_row(db, gated):  # scenarios 1 and 2
    b = Backfill(db, gated)
    w = Writer(db, "DELETE FROM t WHERE id = 5")
    wait_until(lambda: state_of(gated, w.pid)[0] == "Lock", "the DELETE to wait on the batch's row lock")
    b.finish()
    w.commit()
    assert 5 not in shadow(gated) and len(shadow(gated)) == 49  # no resurrected row


def test_an_update_after_the_batch_read_wins(db, gated):  # scenario 3
    b = Backfill(db, gated)
    w = Writer(db, "UPDATE t SET secret = 'newer' WHERE id = 7")  # FOR KEY SHARE does not block it
    w.commit()
    b.finish()
    assert shadow(gated)[7] == "newer"
    assert scalar(gated, "SELECT retries FROM colcrypt.backfill_ranges") >= 1  # the batch gave way


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_an_uncommitted_trigger_write_of_the_same_key(db, gated, outcome):  # scenario 4
    w = Writer(db, "UPDATE t SET secret = 'pending' WHERE id = 9")  # the trigger's upsert, not committed
    w.thread.join()
    gated.execute("UPDATE gate SET closed = false")

    def backfill():
        with db.connect() as c:
            c.execute("CALL colcrypt.backfill('t', p_max_runtime => '1 s')")

    runner = threading.Thread(target=backfill)
    runner.start()
    wait_until(lambda: scalar(gated, "SELECT coalesce(sum(retries), 0) FROM colcrypt.backfill_ranges") >= 1,
               "the batch to give way to the application's uncommitted write")
    if outcome == "commit":
        w.commit()
    else:
        w.rollback()
    runner.join()
    gated.execute("CALL colcrypt.backfill('t')")
    assert shadow(gated)[9] == ("pending" if outcome == "commit" else "v9")
    assert len(shadow(gated)) == 50


def test_a_key_change_during_the_batch(db, gated):  # scenario 5
    b = Backfill(db, gated)
    w = Writer(db, "UPDATE t SET id = 1005 WHERE id = 5")  # a key change waits for FOR KEY SHARE
    wait_until(lambda: state_of(gated, w.pid)[0] == "Lock", "the key change to wait on the batch")
    b.finish()
    w.commit()
    rows = shadow(gated)
    assert 5 not in rows and rows[1005] == "v5" and len(rows) == 50


def test_delete_then_reinsert_a_key_and_inserts_beyond_the_bound(db, gated):  # scenarios 5 and 7
    b = Backfill(db, gated)
    Writer(db, "INSERT INTO t VALUES (1000, 'above')").commit()  # above the upper bound: the trigger's
    w = Writer(db, "DELETE FROM t WHERE id = 3")
    wait_until(lambda: state_of(gated, w.pid)[0] == "Lock", "the DELETE to wait")
    b.finish()
    w.commit()
    Writer(db, "INSERT INTO t VALUES (3, 'again')").commit()
    assert shadow(gated) == {r[0]: r[1] for r in gated.execute("SELECT id, secret FROM t")}


ODD_KEYS = {
    'text COLLATE "C"': "'k' || g || chr(1000 + g)",
    'text COLLATE "und-x-icu"': "'Ä' || g || 'a b'",
    "bytea": "decode(lpad(to_hex(g), 8, '0'), 'hex')",
    "uuid": "md5(g::text)::uuid",
    "numeric": "g / 7.0",
    "timestamptz": "TIMESTAMPTZ '2024-01-01' + g * INTERVAL '1 microsecond'",
}


@pytest.mark.parametrize("key_type", ODD_KEYS)
def test_odd_keys_and_values_round_trip(conn, key_type):  # scenario 14
    conn.execute(f"""
        CREATE TABLE odd (k {key_type} PRIMARY KEY, v text, j jsonb);
        INSERT INTO odd SELECT {ODD_KEYS[key_type]},
               CASE g % 4 WHEN 0 THEN '' WHEN 1 THEN repeat('ü€𝄞', 20000) WHEN 2 THEN NULL ELSE 'x''"\\' END,
               jsonb_build_object('n', g, 's', 'ß')
        FROM generate_series(1, 3000) g;
        SELECT colcrypt.prepare('odd', ARRAY['v', 'j'], 'k');
    """)
    conn.execute("CALL colcrypt.backfill('odd', p_batch_size => 250, p_workers => 2, p_worker => 1)")
    conn.execute("CALL colcrypt.backfill('odd', p_batch_size => 250, p_workers => 2, p_worker => 2)")
    v = conn.execute("SELECT total, valid, passed FROM colcrypt.validate('odd')").fetchone()
    assert v == (3000, 3000, True)


def test_an_application_transaction_in_the_opposite_order_never_fails(db, gated):  # scenario 18
    """The application holds row 50's shadow write, the batch (rows 1..50 in key order) waits on it,
    then the application writes row 1, which the batch holds: the batch gives way, the application
    transaction goes through."""
    gated.execute("UPDATE gate SET closed = false")
    app = db.connect(autocommit=False)
    app.execute("UPDATE t SET secret = 'app-50' WHERE id = 50")  # uncommitted shadow write of key 50

    def backfill():
        with db.connect() as c:
            c.execute("CALL colcrypt.backfill('t', p_max_runtime => '2 s')")

    runner = threading.Thread(target=backfill)
    runner.start()
    wait_until(lambda: scalar(gated, "SELECT coalesce(sum(retries), 0) FROM colcrypt.backfill_ranges") >= 1,
               "the batch to meet the application's write of key 50")
    app.execute("UPDATE t SET secret = 'app-1' WHERE id = 1")  # a row the batch reads first
    app.commit()  # no error: the application never loses
    app.close()
    runner.join()
    gated.execute("CALL colcrypt.backfill('t')")
    rows = shadow(gated)
    assert rows[1] == "app-1" and rows[50] == "app-50" and len(rows) == 50


def test_truncate_during_the_backfill(db, gated):  # scenario 10, TRUNCATE half (ALTER and DROP are refused)
    b = Backfill(db, gated)
    w = Writer(db, "TRUNCATE t")
    wait_until(lambda: state_of(gated, w.pid)[0] == "Lock", "the TRUNCATE to wait for the batch")
    b.finish()
    w.commit()
    gated.execute("INSERT INTO t VALUES (7, 'after')")
    gated.execute("CALL colcrypt.backfill('t')")
    assert shadow(gated) == {7: "after"}  # nothing the batch copied survives the truncate
    v = gated.execute("SELECT total, passed FROM colcrypt.validate('t')").fetchone()
    assert v == (1, True)
