"""colcrypt.finalize(table) and colcrypt.cleanup(table, retain): the shadow becomes the table of
record (constraints moved, the plaintext table no longer written, rollback still lossless), then the
plaintext table goes, and the name keeps working with its sequences, triggers and foreign keys; a
dump holds no plaintext of the migrated columns."""

import subprocess
import threading
import time

import psycopg
import pytest

from tests.db.helpers import raises_sqlstate, scalar
from tests.db.test_cutover import SCHEMA, TABLE, postgres_error, state, validated

PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


@pytest.fixture
def written(conn, app_role):
    """The shop of test_cutover after its write cutover, with a CHECK and a NOT NULL on encrypted columns."""
    conn.execute(SCHEMA)
    conn.execute("""ALTER TABLE shop."Customers" ADD CONSTRAINT ssn_shape CHECK (ssn LIKE '___-__-____');
                    ALTER TABLE shop."Customers" ALTER COLUMN email SET NOT NULL""")
    conn.execute(f"GRANT USAGE ON SCHEMA shop TO {app_role};"
                 f' GRANT SELECT, INSERT, UPDATE, DELETE ON shop."Customers", shop.eu_customers TO {app_role};'
                 f' GRANT USAGE ON SEQUENCE shop."Customers_id_seq" TO {app_role}; GRANT SELECT ON shop.orders'
                 f" TO {app_role}")
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (app_role,))
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn', 'email'], 'k')", (TABLE,))
    conn.execute("CALL colcrypt.backfill(%s)", (TABLE,))
    validated(conn)
    conn.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    conn.execute("SELECT colcrypt.cutover(%s, 'writes')", (TABLE,))
    return conn


def as_app(db, role):
    return psycopg.connect(db.dsn.replace("user=postgres", f"user={role}"), autocommit=True)


def insert(app, ssn="123-45-6789", email="new@x.org", region="EU"):
    return app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn, email) VALUES (%s, 'n', %s, %s)"
                       " RETURNING id, touched", (region, ssn, email)).fetchone()


def test_finalized_writes_reach_only_the_shadow_and_every_constraint_still_holds(db, written, app_role):
    assert written.execute("SELECT stage FROM colcrypt.finalize(%s)", (TABLE,)).fetchone() == ("finalize",)
    assert state(written) == "finalized"
    before = scalar(written, 'SELECT count(*) FROM shop."Customers_plaintext"')
    with as_app(db, app_role) as app:
        new_id, touched = insert(app)
        assert touched == 1  # the table's trigger, on the shadow
        app.execute(f"UPDATE {TABLE} SET id = 7000, ssn = '999-99-9999' WHERE id = %s", (new_id,))
        assert app.execute(f"SELECT ssn, touched FROM {TABLE} WHERE id = 7000").fetchone() == ("999-99-9999", 2)
        assert app.execute(f"DELETE FROM {TABLE} WHERE id = 9").rowcount == 1
        with postgres_error("23503"):  # out: region, now checked by the shadow's foreign key
            insert(app, region="XX")
        with postgres_error("23503"):  # in: orders now reference the shadow
            app.execute(f"DELETE FROM {TABLE} WHERE id = 1")
        with postgres_error("23514"):  # a CHECK on an unencrypted column, on the shadow
            app.execute(f"UPDATE {TABLE} SET score = 5000 WHERE id = 3")
        with postgres_error("23514"):  # a CHECK on an encrypted column, evaluated by the name's trigger
            insert(app, ssn="bad")
        with postgres_error("23502"):  # NOT NULL of an encrypted column
            insert(app, email=None)
        with postgres_error("42501"):  # the plaintext table has no grants left, reading included
            app.execute('SELECT * FROM shop."Customers_plaintext"')
        assert app.execute("SELECT count(*) FROM shop.eu_customers WHERE id = 7000").fetchone() == (1,)
    written.execute("INSERT INTO shop.orders VALUES (3, 7000)")  # a row only the shadow has can be referenced
    assert scalar(written, 'SELECT count(*) FROM shop."Customers_plaintext"') == before  # not written any more
    assert scalar(written, 'SELECT migration_status FROM shop."Customers_encrypted" WHERE id = 7000') == "final"
    with raises_sqlstate("KC018", "validate needs"):  # nothing to compare with any more
        written.execute("SELECT * FROM colcrypt.validate(%s)", (TABLE,))


def test_rollback_from_finalized_brings_every_write_back(db, written, app_role):
    written.execute("SELECT colcrypt.finalize(%s)", (TABLE,))
    with as_app(db, app_role) as app:
        new_id, _ = insert(app)
        app.execute(f"UPDATE {TABLE} SET id = 7000, email = 'moved@x.org' WHERE id = %s", (new_id,))
        app.execute(f"UPDATE {TABLE} SET ssn = NULL WHERE id = 4")
        app.execute(f"DELETE FROM {TABLE} WHERE id IN (5, 6)")
    written.execute("INSERT INTO shop.orders VALUES (3, 7000)")
    expected = written.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()
    notices = []
    written.add_notice_handler(lambda n: notices.append(n.message_primary))
    assert written.execute("SELECT from_state FROM colcrypt.rollback(%s)", (TABLE,)).fetchone() == ("finalized",)
    assert written.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall() == expected
    assert any("VALIDATE CONSTRAINT" in n for n in notices), notices
    fks = dict(written.execute("SELECT conname, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
                               " AND (conrelid = %s::regclass OR confrelid = %s::regclass)", (TABLE, TABLE)).fetchall())
    assert fks == {"orders_customer_fkey": TABLE, "Customers_region_fkey": "shop.regions"}
    with as_app(db, app_role) as app:  # its grants and its trigger back on the table
        assert insert(app)[1] == 1
    with postgres_error("23503"):
        written.execute(f"DELETE FROM {TABLE} WHERE id = 7000")
    assert scalar(written, "SELECT count(*) FROM pg_class WHERE relname ~ '_(encrypted|plaintext)$'") == 0


def test_cleanup_drops_the_plaintext_and_leaves_no_plaintext_in_a_dump(db, written, app_role):
    ssns = [r[0] for r in written.execute(f"SELECT ssn FROM {TABLE} WHERE ssn IS NOT NULL")]
    written.execute("SELECT colcrypt.finalize(%s)", (TABLE,))
    report = written.execute("SELECT place, detail, action FROM colcrypt.cleanup(%s, '0')", (TABLE,)).fetchall()
    assert report[0][:2] == ("plaintext table", 'shop."Customers_plaintext" dropped')
    assert {"WAL", "pg_stat_statements and client-side logs"} <= {r[0] for r in report}
    assert all(r[2] for r in report)
    assert state(written) == "cleaned"
    assert scalar(written, "SELECT to_regclass('shop.\"Customers_plaintext\"')") is None
    assert scalar(written, "SELECT count(*) FROM pg_proc WHERE proname ~ '^(dual_write|truncate)_'") == 0
    assert scalar(written, "SELECT pg_get_serial_sequence('shop.\"Customers\"', 'id')") == \
        'shop."Customers_id_seq"'  # the name's, since the read cutover
    assert scalar(written, "SELECT bool_and(convalidated) FROM pg_constraint WHERE conrelid IN"
                           " ('shop.\"Customers_encrypted\"'::regclass, 'shop.orders'::regclass)") is True
    with as_app(db, app_role) as app:
        new_id, touched = insert(app, ssn="555-55-5555")
        assert touched == 1 and new_id > 200
        assert app.execute(f"SELECT ssn FROM {TABLE} WHERE id = %s", (new_id,)).fetchone() == ("555-55-5555",)
        with postgres_error("23514"):
            insert(app, ssn="bad")
    dump = subprocess.run([PG_DUMP, "--dbname", db.dsn], capture_output=True, text=True, check=True).stdout
    assert 'CREATE TABLE shop."Customers_encrypted"' in dump and 'CREATE VIEW shop."Customers"' in dump
    assert [s for s in ssns + ["555-55-5555"] if s in dump] == []
    with raises_sqlstate("KC017"):  # nothing left to roll back
        written.execute("SELECT * FROM colcrypt.rollback(%s)", (TABLE,))


def test_cleanup_keeps_the_plaintext_until_the_retention_ends(written):
    written.execute("SELECT colcrypt.finalize(%s)", (TABLE,))
    first = written.execute("SELECT place, detail, action FROM colcrypt.cleanup(%s)", (TABLE,)).fetchone()
    assert first[0] == "plaintext table" and "kept without grants until" in first[1]
    assert "call colcrypt.cleanup again" in first[2]  # no pg_cron in this database
    assert state(written) == "finalized"
    assert scalar(written, "SELECT to_regclass('shop.\"Customers_plaintext\"') IS NOT NULL") is True
    assert written.execute("SELECT from_state FROM colcrypt.rollback(%s)", (TABLE,)).fetchone() == ("finalized",)


@pytest.mark.parametrize(("stage", "call", "sqlstate", "match"), [
    ("writes", "SELECT * FROM colcrypt.cleanup(%s, '0')", "KC018", "cleanup needs finalized"),
    ("reads", "SELECT * FROM colcrypt.finalize(%s)", "KC018", "finalize needs cutover_writes"),
    ("writes", "SELECT * FROM colcrypt.finalize(%s, p_lock_timeout => '-1 s')", "KC008", "p_lock_timeout"),
    ("finalized", "SELECT * FROM colcrypt.cleanup(%s, '-1 day')", "KC008", "p_retain"),
])
def test_refusals_change_nothing(conn, stage, call, sqlstate, match):
    conn.execute(SCHEMA)
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn'], 'k')", (TABLE,))
    conn.execute("CALL colcrypt.backfill(%s)", (TABLE,))
    validated(conn)
    for s in ("reads", "writes", "finalized"):
        conn.execute("SELECT colcrypt.finalize(%s)" if s == "finalized" else
                     f"SELECT colcrypt.cutover(%s, '{s}')", (TABLE,))
        if s == stage:
            break
    before = state(conn)
    with raises_sqlstate(sqlstate, match):
        conn.execute(call, (TABLE,))
    assert state(conn) == before


def test_what_cannot_hold_on_ciphertext_is_refused(written):
    written.execute('SET colcrypt.allow_ddl = on; CREATE UNIQUE INDEX one_email ON shop."Customers_plaintext" (email);'
                    " RESET colcrypt.allow_ddl")
    with raises_sqlstate("0A000", "one_email"):  # uniqueness of encrypted values
        written.execute("SELECT colcrypt.finalize(%s)", (TABLE,))
    assert state(written) == "cutover_writes"
    written.execute('SET colcrypt.allow_ddl = on; DROP INDEX shop.one_email; RESET colcrypt.allow_ddl')
    written.execute("SELECT colcrypt.finalize(%s)", (TABLE,))
    written.execute('CREATE MATERIALIZED VIEW shop.snapshot AS SELECT id FROM shop."Customers_plaintext"')
    with raises_sqlstate("KC025", "shop.snapshot"):
        written.execute("SELECT * FROM colcrypt.cleanup(%s, '0')", (TABLE,))
    assert state(written) == "finalized"


def test_identity_and_serial_keep_counting_after_cleanup(db, conn):
    conn.execute("""CREATE TABLE people (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ssn text,
                                         no bigserial);
                    INSERT INTO people (ssn) SELECT 'p' || g FROM generate_series(1, 50) g""")
    conn.execute("SELECT colcrypt.prepare('people', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('people')")
    assert scalar(conn, "SELECT passed FROM colcrypt.validate('people')")
    for step in ("SELECT colcrypt.cutover('people', 'reads')", "SELECT colcrypt.cutover('people', 'writes')",
                 "SELECT colcrypt.finalize('people')", "SELECT * FROM colcrypt.cleanup('people', '0')"):
        conn.execute(step)
        conn.execute("INSERT INTO people (ssn) VALUES ('after')")
        with pytest.raises(psycopg.Error) as info:  # GENERATED ALWAYS, as the table had it
            conn.execute("INSERT INTO people (id, ssn) VALUES (999, 'explicit')")
        assert info.value.diag.sqlstate == "428C9", step
        # the name's sequences, as a table's: what Django's sqlsequencereset and Rails' reset_pk_sequence! read
        assert conn.execute("SELECT pg_get_serial_sequence('people', 'id'), pg_get_serial_sequence('people', 'no')"
                            ).fetchone() == ("public.people_id_seq", "public.people_no_seq"), step
    rows = conn.execute("SELECT id, no FROM people WHERE ssn = 'after' ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [51, 52, 53, 54]  # the same sequences throughout, given to the name
    assert [r[1] for r in rows] == sorted({r[1] for r in rows}) and rows[0][1] == 51  # (failed inserts draw too)


def test_a_partitioned_table_through_finalize_rollback_and_cleanup(conn):
    conn.execute("CREATE TABLE events (id int, at date, email text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
                 " CREATE TABLE events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');"
                 " CREATE TABLE events_new PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2100-01-01');"
                 " INSERT INTO events SELECT g, DATE '2010-01-01' + g * 7, 'e' || g FROM generate_series(1, 1000) g;"
                 " CREATE TABLE notes (event int, at date,"
                 "                     FOREIGN KEY (event, at) REFERENCES events ON DELETE CASCADE);"
                 " INSERT INTO notes VALUES (1, DATE '2010-01-08'), (2, DATE '2010-01-15')")
    for attempt in ("rolled back", "kept"):
        conn.execute("SELECT colcrypt.prepare('events', ARRAY['email'], 'k')")
        conn.execute("CALL colcrypt.backfill('events')")
        conn.execute("SELECT colcrypt.validate('events')")
        for step in ("SELECT colcrypt.cutover('events', 'reads')", "SELECT colcrypt.cutover('events', 'writes')",
                     "SELECT colcrypt.finalize('events')"):
            conn.execute(step)
        conn.execute(f"UPDATE events SET at = '2030-01-01', email = '{attempt}' WHERE id = 10")  # across partitions
        conn.execute("DELETE FROM events WHERE id = 1")  # cascades to notes, now from the shadow
        conn.execute("INSERT INTO events VALUES (5000, '2040-01-01', 'new');"
                     " INSERT INTO notes VALUES (5000, '2040-01-01')")
        expected = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (2,)
        if attempt == "rolled back":
            conn.execute("SELECT colcrypt.rollback('events')")
            assert scalar(conn, "SELECT relkind::text FROM pg_class WHERE oid = 'events'::regclass") == "p"
            conn.execute("DELETE FROM notes WHERE event = 5000; DELETE FROM events WHERE id IN (5000, 10)")
        else:
            conn.execute("SELECT * FROM colcrypt.cleanup('events', '0')")
            assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relname LIKE 'events_plaintext%'") == 0
        assert conn.execute("SELECT * FROM events ORDER BY id").fetchall() == [
            r for r in expected if attempt == "kept" or r[0] not in (5000, 10)]
    conn.execute("DELETE FROM events WHERE id = 2")
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (1,)


def _through_finalize(conn, table, columns):
    conn.execute("SELECT colcrypt.prepare(%s, %s, 'k')", (table, columns))
    conn.execute("CALL colcrypt.backfill(%s)", (table,))
    conn.execute("SELECT colcrypt.validate(%s)", (table,))
    for stage in ("reads", "writes"):
        conn.execute("SELECT colcrypt.cutover(%s, %s)", (table, stage))
    conn.execute("SELECT colcrypt.finalize(%s)", (table,))


def test_foreign_keys_of_partitioned_tables_move_validated(conn):
    """PostgreSQL cannot add a foreign key NOT VALID to a partitioned table (42809): finalize and rollback
    add those validated, a scan of the partitioned table inside the switch, and a violation still fails."""
    conn.execute("CREATE TABLE parent (id int PRIMARY KEY, email text);"
                 " CREATE TABLE child (id int, day date, parent_id int REFERENCES parent ON DELETE CASCADE,"
                 "  phone text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);"
                 " CREATE TABLE child_all PARTITION OF child FOR VALUES FROM (MINVALUE) TO (MAXVALUE);"
                 " INSERT INTO parent SELECT g, 'p' || g || '@example.org' FROM generate_series(1, 50) g;"
                 " INSERT INTO child SELECT g, DATE '2026-01-01' + g, g % 50 + 1, '+1 415-555-01' || g % 100"
                 " FROM generate_series(1, 200) g")
    _through_finalize(conn, "parent", ["email"])  # the partitioned child's key now references the shadow
    fk = "SELECT convalidated, confrelid::regclass::text FROM pg_constraint WHERE conrelid = 'child'::regclass" \
         " AND contype = 'f'"
    assert conn.execute(fk).fetchall() == [(True, "parent_encrypted")]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO child VALUES (999, '2026-06-01', 999, NULL)")
    _through_finalize(conn, "child", ["phone"])
    conn.execute("SELECT colcrypt.rollback('child')")  # the partitioned table gets its key back
    assert conn.execute(fk).fetchall() == [(True, "parent_encrypted")]
    assert scalar(conn, "SELECT relkind::text FROM pg_class WHERE oid = 'child'::regclass") == "p"
    conn.execute("DELETE FROM parent WHERE id = 1")
    assert scalar(conn, "SELECT count(*) FROM child WHERE parent_id = 1") == 0
    assert scalar(conn, "SELECT count(*) FROM child") == 196
    conn.execute("SELECT colcrypt.rollback('parent')")
    assert conn.execute(fk).fetchall() == [(True, "parent")]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO child VALUES (999, '2026-06-01', 999, NULL)")


def test_values_drawn_while_cleanup_waits_are_not_drawn_again(db, conn):
    conn.execute("CREATE TABLE seqd (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ssn text);"
                 " INSERT INTO seqd (ssn) SELECT 'p' || g FROM generate_series(1, 10) g")
    conn.execute("SELECT colcrypt.prepare('seqd', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('seqd')")
    conn.execute("SELECT colcrypt.validate('seqd')")
    for step in ("cutover('seqd', 'reads')", "cutover('seqd', 'writes')", "finalize('seqd')"):
        conn.execute(f"SELECT * FROM colcrypt.{step}")
    seq = scalar(conn, "SELECT pg_get_serial_sequence('seqd', 'id')")
    with db.connect() as holder:
        holder.execute("BEGIN; SELECT count(*) FROM seqd")  # holds the name: the switch waits
        done = []

        def clean():
            with db.connect() as c:
                done.append(c.execute("SELECT count(*) FROM colcrypt.cleanup('seqd', '0', p_lock_timeout => '10 s',"
                                      " p_retries => 1)").fetchone())

        cleaner = threading.Thread(target=clean)
        cleaner.start()
        time.sleep(0.5)
        drawn = [scalar(conn, "SELECT nextval(%s)", (seq,)) for _ in range(5)]  # while it waits
        holder.execute("COMMIT")
        cleaner.join()
    assert done and state(conn) == "cleaned"
    assert scalar(conn, "INSERT INTO seqd (ssn) VALUES ('after') RETURNING id") > max(drawn)
