"""colcrypt.cutover(table, 'reads') and colcrypt.rollback(table): applications keep the name and
their SQL; every refusal changes nothing; rollback from any stage gives back the plaintext table with
every write made meanwhile."""

import contextlib
import threading
import time

import psycopg
import pytest

from tests.db.helpers import raises_sqlstate, scalar

SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE shop.regions (code text PRIMARY KEY);
INSERT INTO shop.regions VALUES ('EU'), ('US');
CREATE TABLE shop."Customers" (
    id bigserial PRIMARY KEY,
    region text NOT NULL REFERENCES shop.regions,
    "Full Name" text NOT NULL,
    ssn varchar(11),
    email text,
    score numeric(6,2) DEFAULT 1.5 CHECK (score < 1000),
    touched int NOT NULL DEFAULT 0
);
COMMENT ON TABLE shop."Customers" IS 'people who buy';
COMMENT ON COLUMN shop."Customers".ssn IS 'US social security number';
CREATE TABLE shop.orders (id int PRIMARY KEY, customer bigint NOT NULL REFERENCES shop."Customers");
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON shop."Customers" FOR EACH ROW EXECUTE FUNCTION shop.touch();
INSERT INTO shop."Customers" (region, "Full Name", ssn, email)
SELECT CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END, 'n' || g, lpad(g::text, 3, '0') || '-45-6789', 'u' || g || '@x.org'
FROM generate_series(1, 200) g;
INSERT INTO shop.orders VALUES (1, 1), (2, 2);
CREATE VIEW shop.eu_customers AS SELECT id, "Full Name", ssn FROM shop."Customers" WHERE region = 'EU';
"""
TABLE = 'shop."Customers"'
COLUMNS_SQL = """SELECT attname, format_type(atttypid, atttypmod), pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE attrelid = 'shop."Customers"'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"""


@pytest.fixture
def shop(conn, app_role):
    conn.execute(SCHEMA)
    conn.execute(f"GRANT USAGE ON SCHEMA shop TO {app_role};"
                 f' GRANT SELECT, INSERT, UPDATE, DELETE ON shop."Customers", shop.eu_customers TO {app_role};'
                 f' GRANT USAGE ON SEQUENCE shop."Customers_id_seq" TO {app_role}')
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (app_role,))  # it reads the table, so it needs the key
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn', 'email'], 'k')", (TABLE,))
    conn.execute("CALL colcrypt.backfill(%s)", (TABLE,))
    return conn


@contextlib.contextmanager
def postgres_error(sqlstate: str):
    """PostgreSQL's own errors (constraints, privileges), which carry no HINT."""
    with pytest.raises(psycopg.Error) as info:
        yield
    assert info.value.diag.sqlstate == sqlstate, str(info.value)


def validated(conn):
    assert scalar(conn, "SELECT passed FROM colcrypt.validate(%s)", (TABLE,))
    return conn


def state(conn):
    return scalar(conn, "SELECT state FROM colcrypt.migrations ORDER BY migration_id DESC LIMIT 1")


def relkind(conn):
    return scalar(conn, "SELECT relkind::text FROM pg_class WHERE oid = %s::regclass", (TABLE,))


def test_reads_cutover_keeps_the_name_and_the_sql(db, shop, app_role):
    validated(shop)
    before = shop.execute(COLUMNS_SQL).fetchall()
    stage, attempts, waited, switch_ms = shop.execute("SELECT * FROM colcrypt.cutover(%s, 'reads')",
                                                      (TABLE,)).fetchone()
    assert (stage, attempts) == ("reads", 1) and switch_ms < 5000
    # the name is the table still, and its plain reads are the shadow's, decrypted
    assert relkind(shop) == "r" and state(shop) == "cutover_reads"
    assert shop.execute(COLUMNS_SQL).fetchall() == before  # names, order, types, defaults
    assert scalar(shop, "SELECT obj_description(%s::regclass)", (TABLE,)) == "people who buy"
    assert scalar(shop, "SELECT col_description(%s::regclass, 4)", (TABLE,)) == "US social security number"
    plan = "\n".join(r[0] for r in shop.execute(f"EXPLAIN (VERBOSE) SELECT ssn FROM {TABLE} WHERE id = 3"))
    assert "Customers_encrypted" in plan and "decrypt_column" in plan
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        row = app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) VALUES ('EU', 'new', '999-99-9999')"
                          " RETURNING id, ssn, score, touched").fetchone()
        assert row[1:] == ("999-99-9999", 1.5, 1)  # defaults and the table's own trigger
        assert app.execute(f"UPDATE {TABLE} SET ssn = NULL, id = 5000 WHERE id = %s RETURNING id, ssn, touched",
                           (row[0],)).fetchone() == (5000, None, 2)
        assert app.execute(f"SELECT \"Full Name\", ssn FROM {TABLE} WHERE id = 5000").fetchone() == ("new", None)
        assert app.execute(f"DELETE FROM {TABLE} WHERE id = 7").rowcount == 1
        with app.cursor().copy(f'COPY {TABLE} (region, "Full Name", email) FROM STDIN') as copy:
            copy.write_row(("US", "copied", "c@x.org"))
        assert app.execute("SELECT count(*) FROM shop.eu_customers WHERE ssn = '002-45-6789'").fetchone() == (1,)
        with postgres_error("23503"):  # foreign key out of the table
            app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\") VALUES ('XX', 'nowhere')")
        with postgres_error("23514"):  # its CHECK
            app.execute(f"UPDATE {TABLE} SET score = 5000 WHERE id = 9")
        with postgres_error("42501"):  # TRUNCATE is the table's, as its grants are
            app.execute(f"TRUNCATE {TABLE}")
    privileges = shop.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'TRUNCATE')",
                              (app_role, TABLE, app_role, TABLE)).fetchone()
    assert privileges == (True, False)  # the table's grants
    with postgres_error("23503"):  # foreign key into the table
        shop.execute(f"DELETE FROM {TABLE} WHERE id = 1")
    assert "Customers\"" in scalar(shop, "SELECT pg_get_viewdef('shop.eu_customers'::regclass)")
    v = shop.execute("SELECT total, valid, passed FROM colcrypt.validate(%s)", (TABLE,)).fetchone()
    assert v == (201, 201, True)  # 200, one inserted (and moved), one deleted, one copied
    # the name reads the shadow: a value removed there is gone from the name's reads, not from the table,
    # which a locked read (as every write) still reaches
    shop.execute('UPDATE shop."Customers_encrypted" SET ssn_encrypted = NULL WHERE id = 3')
    assert scalar(shop, f"SELECT ssn FROM {TABLE} WHERE id = 3") is None
    assert scalar(shop, f"SELECT ssn FROM {TABLE} WHERE id = 3 FOR SHARE") == "003-45-6789"


@pytest.mark.parametrize(("stages", "outcome", "score"), [
    (("reads",), "updated", 3.5),  # the table, as before: the second waits, re-checks, and adds its +1
    (("reads", "writes"), "40001", 2.5),  # the view (this version's write cutover): fails rather than lose it
])
def test_a_concurrent_update_through_the_name(db, shop, stages, outcome, score):
    validated(shop)
    for stage in stages:
        shop.execute("SELECT colcrypt.cutover(%s, %s)", (TABLE, stage))
    first = db.connect(autocommit=False)
    first.execute(f"UPDATE {TABLE} SET score = score + 1 WHERE id = 10")
    outcomes = []

    def second():
        with db.connect() as c:
            try:
                c.execute(f"UPDATE {TABLE} SET score = score + 1 WHERE id = 10")
                outcomes.append("updated")
            except psycopg.Error as e:
                outcomes.append(e.diag.sqlstate)

    t = threading.Thread(target=second)
    t.start()
    for _ in range(100):  # until the second update waits for the first's row lock
        if scalar(shop, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"):
            break
        time.sleep(0.05)
    first.commit()
    t.join()
    first.close()
    assert outcomes == [outcome]
    assert scalar(shop, f"SELECT score FROM {TABLE} WHERE id = 10") == score  # nothing lost silently


@pytest.mark.parametrize("stages", [("reads",), ("reads", "writes")])
def test_a_row_skipped_by_a_before_trigger_is_not_a_concurrent_update(shop, stages):
    validated(shop)
    shop.execute("CREATE FUNCTION shop.frozen() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN IF OLD.touched > 5 THEN RETURN NULL; END IF; RETURN NEW; END $$")
    shop.execute('SET colcrypt.allow_ddl = on; CREATE TRIGGER frozen BEFORE UPDATE OR DELETE ON shop."Customers"'
                 " FOR EACH ROW EXECUTE FUNCTION shop.frozen(); RESET colcrypt.allow_ddl;"
                 f" UPDATE {TABLE} SET touched = 10 WHERE id = 5")
    for stage in stages:
        shop.execute("SELECT colcrypt.cutover(%s, %s)", (TABLE, stage))
    assert shop.execute(f"UPDATE {TABLE} SET ssn = NULL WHERE id IN (5, 6)").rowcount == 1  # 5 is frozen
    assert shop.execute(f"DELETE FROM {TABLE} WHERE id = 5").rowcount == 0
    assert shop.execute(f"SELECT ssn IS NULL FROM {TABLE} WHERE id IN (5, 6) ORDER BY id").fetchall() == [
        (False,), (True,)]


@pytest.mark.parametrize(("setup", "kw", "sqlstate", "match"), [
    ("", {}, "KC022", "never been validated"),
    ("validate", {"p_max_validation_age": "0 s"}, "KC022", "longer ago"),
    ("corrupt", {}, "KC022", "failed its last full validation"),
    ("", {"p_stage": "writes"}, "KC018", "in state backfilled"),
    ("validate", {"p_stage": "sideways"}, "KC008", "p_stage"),
    ("validate", {"p_stage": "writes"}, "KC018", "cutover_reads"),  # reads first
    ("validate", {"p_retries": 0}, "KC008", "p_retries"),
    ("validate grant-public", {}, "KC023", "PUBLIC"),
    ("validate revoke", {}, "KC023", "app_user"),
    ("validate view-reader", {}, "KC023", "pg_monitor"),  # reads ssn through a view
    # the write cutover renames the table and (in this version) puts 0.2's view under the name
    ("validate reads taken", {"p_stage": "writes"}, "KC019", "Customers_plaintext"),
    ("validate reads rls", {"p_stage": "writes"}, "0A000", "policies on_ssn of"),
])
def test_refusals_change_nothing(shop, setup, kw, sqlstate, match):
    if "validate" in setup:
        validated(shop)
    if setup == "corrupt":
        shop.execute('UPDATE shop."Customers_encrypted" SET email_encrypted = NULL WHERE id = 3')
        assert not scalar(shop, "SELECT passed FROM colcrypt.validate(%s)", (TABLE,))
    if "grant-public" in setup:
        shop.execute(f"GRANT SELECT ON {TABLE} TO PUBLIC")
    if "revoke" in setup:
        shop.execute("SELECT colcrypt.revoke_key('k', 'app_user')")
    if "view-reader" in setup:
        shop.execute("GRANT SELECT ON shop.eu_customers TO pg_monitor")
    if "taken" in setup:
        shop.execute('CREATE TABLE shop."Customers_plaintext" ()')
    if "rls" in setup:
        shop.execute(f"SET colcrypt.allow_ddl = on; ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY;"
                     f" CREATE POLICY on_ssn ON {TABLE} USING (ssn IS NOT NULL); RESET colcrypt.allow_ddl")
    if "reads" in setup:
        shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    before = state(shop)
    args = {"p_stage": "reads", **kw}
    named = ", ".join(f"{k} => %({k})s" for k in args)
    with raises_sqlstate(sqlstate, match):
        shop.execute(f"SELECT colcrypt.cutover(%(t)s, {named})", {"t": TABLE, **args})
    assert relkind(shop) == "r" and state(shop) == before


def test_force_skips_the_validation_and_grant_checks(shop):
    shop.execute(f"GRANT SELECT ON {TABLE} TO PUBLIC")
    with shop.transaction():
        shop.execute("SELECT colcrypt.cutover(%s, 'reads', p_force => true)", (TABLE,))
        # the rest of the caller's transaction has its own settings back: the DDL guard is on again
        assert scalar(shop, "SELECT current_setting('colcrypt.allow_ddl')") == "off"
        assert scalar(shop, "SELECT current_setting('lock_timeout')") == "0"
    assert relkind(shop) == "r" and state(shop) == "cutover_reads"  # the table stays; its reads go to the shadow
    assert scalar(shop, "SELECT shadow::text FROM colcrypt.read_redirects") == 'shop."Customers_encrypted"'


def test_a_long_transaction_on_the_table_is_named_and_nothing_changes(db, shop):
    validated(shop)
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))  # takes no lock: the table stays as it is
    other = db.connect(autocommit=False)
    other.execute(f"SELECT id FROM {TABLE} WHERE id = 1 FOR SHARE")  # holds the table
    pid = scalar(other, "SELECT pg_backend_pid()")
    with raises_sqlstate("KC021", "could not lock"):  # busy: every attempt times out
        shop.execute("SELECT colcrypt.cutover(%s, 'writes', p_lock_timeout => '50 ms', p_retries => 2)", (TABLE,))
    time.sleep(5.2)
    with raises_sqlstate("KC021", f"pid {pid}"):  # held longer than the whole retry budget: named up front
        shop.execute("SELECT colcrypt.cutover(%s, 'writes', p_lock_timeout => '50 ms', p_retries => 1)", (TABLE,))
    other.close()
    assert relkind(shop) == "r" and state(shop) == "cutover_reads"
    shop.execute("SELECT colcrypt.cutover(%s, 'writes')", (TABLE,))
    assert relkind(shop) == "v"


@pytest.mark.parametrize("stage", ["dual_write", "backfilled", "validated", "cutover_reads"])
def test_rollback_from_each_stage_keeps_every_write(conn, stage):
    conn.execute(SCHEMA)
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn', 'email'], 'k')", (TABLE,))
    if stage != "dual_write":
        conn.execute("CALL colcrypt.backfill(%s)", (TABLE,))
    if stage in ("validated", "cutover_reads"):
        validated(conn)
    if stage == "cutover_reads":
        conn.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    conn.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) VALUES ('EU', 'late', '123-45-6789')")
    conn.execute(f"UPDATE {TABLE} SET email = NULL, id = 7000 WHERE id = 4")
    conn.execute(f"DELETE FROM {TABLE} WHERE id = 5")
    expected = conn.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()
    from_state, attempts, *_ = conn.execute("SELECT * FROM colcrypt.rollback(%s)", (TABLE,)).fetchone()
    assert (from_state, attempts) == (stage, 1)
    assert relkind(conn) == "r" and state(conn) == "rolled_back"
    assert conn.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall() == expected
    assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relname LIKE 'Customers_%'") == 2  # pkey, id_seq
    assert scalar(conn, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'colcrypt%'"
                        " AND tgrelid::regclass::text NOT LIKE 'colcrypt.%'") == 0  # (the event log keeps its own)
    assert scalar(conn, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'colcrypt'::regnamespace"
                        " AND proname ~ '^(dual_write|truncate|instead)_'") == 0
    assert scalar(conn, "SELECT count(*) FROM shop.eu_customers") > 0  # the dependent view reads the table again
    assert "Customers\"" in scalar(conn, "SELECT pg_get_viewdef('shop.eu_customers'::regclass)")
    conn.execute(f"INSERT INTO {TABLE} (region, \"Full Name\") VALUES ('US', 'after')")  # plain table again
    assert scalar(conn, "SELECT event FROM colcrypt.migration_events ORDER BY event_id DESC LIMIT 1") == "rollback"
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn'], 'k')", (TABLE,))  # and it can start again
    with raises_sqlstate("KC017"):
        conn.execute("SELECT colcrypt.rollback('shop.orders')")


def test_identity_and_generated_columns_through_the_name(db, conn, app_role):
    conn.execute("CREATE TABLE staff (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ssn text, n int,"
                 " doubled int GENERATED ALWAYS AS (n * 2) STORED)")
    conn.execute("INSERT INTO staff (ssn, n) SELECT 's' || g, g FROM generate_series(1, 10) g")
    conn.execute(f"GRANT SELECT, INSERT, UPDATE ON staff TO {app_role}")  # no grant on the identity's sequence
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (app_role,))
    conn.execute("SELECT colcrypt.prepare('staff', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('staff')")
    conn.execute("SELECT colcrypt.validate('staff')")
    conn.execute("SELECT colcrypt.cutover('staff', 'reads')")
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        assert app.execute("INSERT INTO staff (ssn, n) VALUES ('new', 21) RETURNING id, ssn, doubled").fetchone() == (
            11, "new", 42)
        assert app.execute("UPDATE staff SET n = 5, ssn = NULL WHERE id = 11 RETURNING doubled").fetchone() == (10,)
        with postgres_error("428C9"):  # as on the table: no explicit value for a GENERATED ALWAYS identity
            app.execute("INSERT INTO staff (id, ssn) VALUES (99, 'x')")
    assert conn.execute("SELECT passed, total FROM colcrypt.validate('staff')").fetchone() == (True, 11)


@pytest.mark.parametrize(("key", "cast"), [(42, "bigint"), (7, "integer"), ("O'Brien", "text"),
                                           ("0c1e2f0a-3b4c-4d5e-8f60-718293a4b5c6", "uuid")])
def test_the_keyed_decrypt_builds_the_same_context(conn, key, cast):
    v = scalar(conn, f"SELECT colcrypt.encrypt_column('secret', 'k', 'p.c#' || (%s::{cast})::text)", (key,))
    assert scalar(conn, f"SELECT colcrypt.decrypt_column(%s, 'p.c#', %s::{cast})", (v, key)) == "secret"
    with raises_sqlstate("KC001"):  # another row's key does not authenticate
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'p.c#', 43)", (v,))
    with raises_sqlstate("KC008", "row key"):
        conn.execute(f"SELECT colcrypt.decrypt_column(%s, 'p.c#', NULL::{cast})", (v,))
    assert scalar(conn, f"SELECT colcrypt.decrypt_column(NULL, 'p.c#', %s::{cast})", (key,)) is None


def test_preflight_reports_what_will_change_and_cutover_logs_it(shop, app_role):
    validated(shop)
    shop.execute("SELECT pg_stat_statements_reset()")
    shop.execute(f"SELECT id FROM {TABLE} WHERE email = %s", ("u3@x.org",))
    shop.execute(f"SELECT id FROM {TABLE} WHERE ssn LIKE %s ORDER BY ssn", ("00%",))
    shop.execute(f"INSERT INTO {TABLE} (region, \"Full Name\") VALUES ('EU', 'c') ON CONFLICT DO NOTHING")
    shop.execute("CREATE MATERIALIZED VIEW shop.counts AS SELECT region, count(*) FROM shop.\"Customers\" GROUP BY 1")
    shop.execute("SELECT colcrypt.revoke_key('k', %s)", (app_role,))
    found = shop.execute("SELECT kind, detail, calls, remedy FROM colcrypt.preflight(%s)", (TABLE,)).fetchall()
    kinds = sorted(f[0] for f in found)
    assert kinds == ["equality_on_encrypted", "materialized_view", "on_conflict", "range_or_order_on_encrypted",
                     "reader_without_key"], found
    assert all(f[3] for f in found)
    assert next(f[1] for f in found if f[0] == "reader_without_key") == app_role
    shop.execute("SELECT colcrypt.cutover(%s, 'reads', p_force => true)", (TABLE,))
    logged = scalar(shop, "SELECT detail FROM colcrypt.migration_events WHERE event = 'preflight'")
    assert len(logged["findings"]) == len(found)


def test_rollback_while_a_backfill_runs(db, conn):
    conn.execute(SCHEMA)
    conn.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) SELECT 'EU', 'm' || g, 's' || g"
                 " FROM generate_series(1, 20000) g")
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn', 'email'], 'k')", (TABLE,))
    outcome = []

    def backfill():
        with db.connect() as c:
            notices = []
            c.add_notice_handler(lambda d: notices.append(d.message_primary))
            try:
                c.execute("CALL colcrypt.backfill(%s, p_batch_size => 100, p_sleep => '20 ms')", (TABLE,))
                outcome.append(("returned", notices))
            except psycopg.Error as e:
                outcome.append(("failed", e.diag.sqlstate))

    t = threading.Thread(target=backfill)
    t.start()
    for _ in range(100):
        if scalar(conn, "SELECT coalesce(sum(batches), 0) FROM colcrypt.backfill_ranges") >= 3:
            break
        time.sleep(0.05)
    assert conn.execute("SELECT from_state FROM colcrypt.rollback(%s)", (TABLE,)).fetchone() == ("backfilling",)
    t.join(timeout=30)
    assert not t.is_alive()
    assert outcome[0][0] == "returned" and any("rolled_back" in n for n in outcome[0][1]), outcome
    assert relkind(conn) == "r" and scalar(conn, f"SELECT count(*) FROM {TABLE}") == 20200
    assert scalar(conn, "SELECT to_regclass('shop.\"Customers_encrypted\"')") is None


def test_a_long_transaction_does_not_pile_up_the_application_behind_the_switch(db, shop):  # scenario 9
    validated(shop)
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    holder = db.connect(autocommit=False)
    holder.execute(f"SELECT id FROM {TABLE} WHERE id = 1 FOR SHARE")  # holds the table for 1.5 s
    waits, stop = [], threading.Event()

    def app():
        with db.connect() as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                c.execute(f"SELECT ssn FROM {TABLE} WHERE id = 3")
                waits.append(time.perf_counter() - t0)
                time.sleep(0.01)

    def release():
        time.sleep(1.5)
        holder.commit()

    threads = [threading.Thread(target=app), threading.Thread(target=release)]
    for t in threads:
        t.start()
    attempts = scalar(shop, "SELECT attempts FROM colcrypt.cutover(%s, 'writes', p_lock_timeout => '100 ms')",
                      (TABLE,))
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    holder.close()
    assert attempts > 1 and relkind(shop) == "v"  # it waited for the holder by retrying, then switched
    # each attempt queued the application for at most its lock timeout, never for the holder's 1.5 s
    assert max(waits) < 1.0, max(waits)


def test_a_switch_killed_in_progress_leaves_one_consistent_object(db, shop):  # scenario 13
    validated(shop)
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    shop.execute('CREATE VIEW shop.by_region AS SELECT c.id, r.code FROM shop."Customers" c JOIN shop.regions r'
                 " ON r.code = c.region")
    holder = db.connect(autocommit=False)
    # The switch waits inside its transaction to read this dependent view's definition, which reads
    # the locked table; it is killed there. (All of the switch is one transaction: PostgreSQL's DDL
    # is atomic, so a kill at any later point is the same case.)
    holder.execute("LOCK TABLE shop.regions IN ACCESS EXCLUSIVE MODE")
    outcome = []

    def switch(c):
        try:
            c.execute("SELECT colcrypt.cutover(%s, 'writes', p_lock_timeout => '10 s', p_retries => 1)", (TABLE,))
        except psycopg.Error as e:
            outcome.append(type(e).__name__)

    with db.connect() as switcher:
        pid = scalar(switcher, "SELECT pg_backend_pid()")
        t = threading.Thread(target=switch, args=(switcher,))
        t.start()
        for _ in range(100):
            if scalar(shop, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                      (pid,)):
                break
            time.sleep(0.05)
        assert scalar(shop, "SELECT relation::regclass::text FROM pg_locks WHERE pid = %s AND NOT granted",
                      (pid,)) == "shop.regions"
        shop.execute("SELECT pg_terminate_backend(%s)", (pid,))
        t.join()
    holder.close()
    assert outcome == ["AdminShutdown"]
    assert relkind(shop) == "r" and state(shop) == "cutover_reads"  # the name is the table, as before
    assert scalar(shop, "SELECT to_regclass('shop.\"Customers_plaintext\"')") is None
    assert scalar(shop, f"SELECT count(*) FROM {TABLE}") == 200
    shop.execute("SELECT colcrypt.cutover(%s, 'writes')", (TABLE,))  # and it can be done again
    assert relkind(shop) == "v"


def test_row_level_security_is_carried_over(db, conn, app_role):
    conn.execute("CREATE TABLE notes (id int PRIMARY KEY, region text NOT NULL, ssn text)")
    conn.execute("INSERT INTO notes SELECT g, CASE WHEN g % 3 = 0 THEN 'US' ELSE 'EU' END, 's' || g"
                 " FROM generate_series(1, 30) g")
    conn.execute("ALTER TABLE notes ENABLE ROW LEVEL SECURITY")
    conn.execute("CREATE POLICY mine ON notes USING (region = current_setting('app.region', true))"
                 " WITH CHECK (region = current_setting('app.region', true))")
    conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO {app_role}")
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (app_role,))
    conn.execute("SELECT colcrypt.prepare('notes', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('notes')")
    conn.execute("SELECT colcrypt.validate('notes')")
    assert "row_level_security" in [r[0] for r in conn.execute("SELECT kind FROM colcrypt.preflight('notes')")]
    conn.execute("SELECT colcrypt.cutover('notes', 'reads')")
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        app.execute("SET app.region = 'EU'")
        assert app.execute("SELECT count(*), min(ssn) FROM notes").fetchone() == (20, "s1")  # its rows only
        app.execute("INSERT INTO notes VALUES (100, 'EU', 'new')")
        with postgres_error("42501"):  # the policy's WITH CHECK, as before
            app.execute("INSERT INTO notes VALUES (101, 'US', 'other')")
        assert app.execute("UPDATE notes SET ssn = 'x' WHERE id = 3").rowcount == 0  # a US row: not visible
        # no way around the name: the shadow serves the name's reads, under the table's policies, and is closed
        with postgres_error("42501"):
            app.execute("SELECT count(*) FROM notes_encrypted")
    assert conn.execute("SELECT passed, total FROM colcrypt.validate('notes')").fetchone() == (True, 31)
    assert conn.execute("SELECT ssn FROM notes WHERE id = 3 FOR UPDATE").fetchone() == ("s3",)


def test_writes_cutover_writes_the_shadow_first_and_keeps_the_table_in_step(db, shop, app_role):
    validated(shop)
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    assert shop.execute("SELECT stage FROM colcrypt.cutover(%s, 'writes')", (TABLE,)).fetchone() == ("writes",)
    assert state(shop) == "cutover_writes"
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        row = app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) VALUES ('EU', 'w', '111-22-3333')"
                          " RETURNING id, ssn, score, touched").fetchone()
        assert row[1:] == ("111-22-3333", 1.5, 1)  # the default, and the table's trigger fired once, on the shadow
        assert app.execute(f"UPDATE {TABLE} SET ssn = NULL, id = 6000 WHERE id = %s RETURNING touched",
                           (row[0],)).fetchone() == (2,)
        assert app.execute(f"DELETE FROM {TABLE} WHERE id = 8").rowcount == 1
        with postgres_error("23503"):  # a foreign key out, still enforced (by the write in reverse)
            app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\") VALUES ('XX', 'nowhere')")
        with postgres_error("23514"):  # its CHECK
            app.execute(f"UPDATE {TABLE} SET score = 5000 WHERE id = 9")
        with postgres_error("23503"):  # a foreign key into it
            app.execute(f"DELETE FROM {TABLE} WHERE id = 1")
        with postgres_error("42501"):  # nothing but the name writes the plaintext table now
            app.execute('UPDATE shop."Customers_plaintext" SET ssn = NULL WHERE id = 9')
    assert shop.execute('SELECT migration_status, touched, ssn_encrypted IS NULL FROM shop."Customers_encrypted"'
                        " WHERE id = 6000").fetchone() == ("written", 2, True)
    assert shop.execute('SELECT touched, ssn FROM shop."Customers_plaintext" WHERE id = 6000').fetchone() == (2, None)
    assert shop.execute("SELECT passed, total FROM colcrypt.validate(%s)", (TABLE,)).fetchone() == (True, 200)
    expected = shop.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()
    assert shop.execute("SELECT from_state FROM colcrypt.rollback(%s)", (TABLE,)).fetchone() == ("cutover_writes",)
    assert shop.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall() == expected  # nothing lost
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        assert app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\") VALUES ('US', 'back') RETURNING touched"
                           ).fetchone() == (1,)  # its grants back, and the trigger fires on the table again


def test_writes_cutover_refuses_what_cannot_move(shop):
    validated(shop)
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    shop.execute("CREATE FUNCTION shop.mask() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN NEW.ssn := left(NEW.ssn, 3); RETURN NEW; END $$")
    shop.execute('SET colcrypt.allow_ddl = on; CREATE TRIGGER mask BEFORE INSERT ON shop."Customers"'
                 " FOR EACH ROW WHEN (NEW.ssn IS NOT NULL) EXECUTE FUNCTION shop.mask(); RESET colcrypt.allow_ddl")
    with raises_sqlstate("KC024", "mask (uses an encrypted column, and is statement-level, a constraint trigger"):
        shop.execute("SELECT colcrypt.cutover(%s, 'writes')", (TABLE,))
    assert state(shop) == "cutover_reads"
    assert scalar(shop, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop.\"Customers_encrypted\"'::regclass"
                        " AND NOT tgisinternal") == 0


@pytest.mark.parametrize("last", ["writes", "finalize", "cleanup"])
def test_triggers_on_encrypted_columns_are_called_on_the_plaintext_row(db, shop, app_role, last):
    validated(shop)
    shop.execute("""
        CREATE TABLE shop.ssn_log (op text, old_ssn text, new_ssn text);
        GRANT INSERT ON shop.ssn_log TO PUBLIC;
        CREATE FUNCTION shop.mask() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.ssn := upper(replace(NEW.ssn, ' ', '')) || TG_ARGV[0]; RETURN NEW; END $$;
        CREATE FUNCTION shop.log_ssn() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO shop.ssn_log VALUES (TG_OP, CASE WHEN TG_OP <> 'INSERT' THEN OLD.ssn END,
                                             CASE WHEN TG_OP <> 'DELETE' THEN NEW.ssn END);
            RETURN NULL;
        END $$;
        SET colcrypt.allow_ddl = on;
        CREATE TRIGGER mask BEFORE INSERT OR UPDATE OF ssn ON shop."Customers" FOR EACH ROW
            EXECUTE FUNCTION shop.mask('!');
        CREATE TRIGGER log_ssn AFTER INSERT OR UPDATE OR DELETE ON shop."Customers" FOR EACH ROW
            EXECUTE FUNCTION shop.log_ssn();
        RESET colcrypt.allow_ddl""")
    steps = {"writes": ["SELECT colcrypt.cutover(%s, 'reads')", "SELECT colcrypt.cutover(%s, 'writes')"]}
    steps["finalize"] = steps["writes"] + ["SELECT colcrypt.finalize(%s)"]
    steps["cleanup"] = steps["finalize"] + ["SELECT * FROM colcrypt.cleanup(%s, '0')"]
    for step in steps[last]:
        shop.execute(step, (TABLE,))
    shop.execute("TRUNCATE shop.ssn_log")
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        row = app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) VALUES ('EU', 'm', 'ab 12')"
                          " RETURNING id, ssn, touched").fetchone()
        assert row[1:] == ("AB12!", 1)  # the BEFORE trigger on the plaintext row; the moved one too
        assert app.execute(f"UPDATE {TABLE} SET touched = 0 WHERE id = %s RETURNING ssn", (row[0],)).fetchone() == (
            "AB12!",)  # UPDATE OF ssn: not fired, ssn unchanged
        assert app.execute(f"UPDATE {TABLE} SET ssn = 'x y' WHERE id = %s RETURNING ssn", (row[0],)).fetchone() == (
            "XY!",)
        assert app.execute(f"DELETE FROM {TABLE} WHERE id = %s", (row[0],)).rowcount == 1
    assert shop.execute("SELECT * FROM shop.ssn_log").fetchall() == [
        ("INSERT", None, "AB12!"), ("UPDATE", "AB12!", "AB12!"), ("UPDATE", "AB12!", "XY!"), ("DELETE", "XY!", None)]
    if last == "writes":  # the plaintext table got the same rows; rollback keeps them and fires there again
        assert shop.execute("SELECT passed FROM colcrypt.validate(%s)", (TABLE,)).fetchone() == (True,)
        shop.execute("SELECT colcrypt.rollback(%s)", (TABLE,))
        assert shop.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) VALUES ('EU', 'm', 'c d')"
                            " RETURNING ssn").fetchone() == ("CD!",)
        assert scalar(shop, "SELECT count(*) FROM shop.ssn_log") == 5


@pytest.mark.parametrize("stage", ["writes", "finalize"])
def test_a_write_in_flight_during_a_switch_meets_the_shape_it_started_with(db, shop, stage):
    """A statement through the name that waits for the switch runs afterwards with the new trigger
    configuration and the new function, not the old function against the new configuration."""
    validated(shop)
    shop.execute("""CREATE FUNCTION shop.norm() RETURNS trigger LANGUAGE plpgsql AS
                    $$ BEGIN NEW.ssn := upper(NEW.ssn); RETURN NEW; END $$;
                    SET colcrypt.allow_ddl = on;
                    CREATE TRIGGER norm BEFORE INSERT ON shop."Customers" FOR EACH ROW EXECUTE FUNCTION shop.norm();
                    RESET colcrypt.allow_ddl""")
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    if stage == "finalize":
        shop.execute("SELECT colcrypt.cutover(%s, 'writes')", (TABLE,))
    got = []

    def write():
        with db.connect() as app:
            got.append(app.execute(f"INSERT INTO {TABLE} (region, \"Full Name\", ssn) VALUES ('EU', 'f', 'abc')"
                                   " RETURNING ssn").fetchone()[0])

    with shop.transaction():  # the switch done, not yet committed: its locks held
        shop.execute("SELECT * FROM colcrypt.finalize(%s)" if stage == "finalize" else
                     "SELECT * FROM colcrypt.cutover(%s, 'writes')", (TABLE,))
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)
    writer.join()
    assert got == ["ABC"]
    assert scalar(shop, f"SELECT ssn FROM {TABLE} WHERE \"Full Name\" = 'f'") == "ABC"


def test_cascades_into_the_table_reach_the_shadow_after_the_write_cutover(shop):
    validated(shop)
    shop.execute('SET colcrypt.allow_ddl = on; ALTER TABLE shop."Customers" DROP CONSTRAINT "Customers_region_fkey";'
                 ' ALTER TABLE shop."Customers" ADD CONSTRAINT follows FOREIGN KEY (region) REFERENCES shop.regions'
                 " ON UPDATE CASCADE ON DELETE CASCADE; RESET colcrypt.allow_ddl")
    shop.execute("SELECT colcrypt.cutover(%s, 'reads')", (TABLE,))
    shop.execute("SELECT colcrypt.cutover(%s, 'writes')", (TABLE,))
    touched = dict(shop.execute(f"SELECT id, touched FROM {TABLE} WHERE region = 'EU'").fetchall())
    shop.execute("UPDATE shop.regions SET code = 'EX' WHERE code = 'EU'")  # writes the plaintext table directly
    after = dict(shop.execute(f"SELECT id, touched FROM {TABLE} WHERE region = 'EX'").fetchall())
    assert after == {k: v + 1 for k, v in touched.items()}  # through the name: the cascade and its trigger, once
    assert shop.execute('SELECT count(*) FROM shop."Customers_plaintext" WHERE region = \'EX\''
                        ' AND touched > 1').fetchone() == (len(touched),)  # what the moved trigger did came back
    shop.execute("DELETE FROM shop.orders; DELETE FROM shop.regions WHERE code = 'US'")
    assert scalar(shop, f"SELECT count(*) FROM {TABLE} WHERE region = 'US'") == 0
    assert shop.execute("SELECT passed, total FROM colcrypt.validate(%s)", (TABLE,)).fetchone() == (True, 100)


def test_a_partitioned_table_through_both_stages(db, conn):
    conn.execute("CREATE TABLE events (id int, at date, email text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
                 " CREATE TABLE events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');"
                 " CREATE TABLE events_new PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2100-01-01');"
                 " INSERT INTO events SELECT g, DATE '2010-01-01' + g * 7, 'e' || g FROM generate_series(1, 1000) g")
    conn.execute("SELECT colcrypt.prepare('events', ARRAY['email'], 'k')")
    conn.execute("CALL colcrypt.backfill('events')")
    conn.execute("SELECT colcrypt.validate('events')")
    for stage in ("reads", "writes"):
        conn.execute("SELECT colcrypt.cutover('events', %s)", (stage,))
        conn.execute(f"INSERT INTO events VALUES (5000, '2015-01-01', '{stage}')")
        conn.execute(f"UPDATE events SET at = '2030-01-01', email = '{stage}-moved' WHERE id = 10")  # across partitions
        conn.execute(f"UPDATE events SET at = '2031-01-0{len(stage)}' WHERE id = 10")
        conn.execute("DELETE FROM events WHERE id = 5000")
        assert conn.execute("SELECT passed, total FROM colcrypt.validate('events')").fetchone() == (True, 1000)
        assert conn.execute("SELECT email FROM events_new WHERE id = 10").fetchone() == (f"{stage}-moved",)
        # the shadow row was written by the name's trigger in the write stage, not again by a dual-write trigger
        status = {"reads": "dual_write", "writes": "written"}[stage]
        assert conn.execute("SELECT migration_status FROM events_encrypted WHERE id = 10").fetchone() == (status,)
    expected = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    conn.execute("SELECT colcrypt.rollback('events')")
    assert conn.execute("SELECT * FROM events ORDER BY id").fetchall() == expected
    assert conn.execute("SELECT relkind::text FROM pg_class WHERE oid = 'events'::regclass").fetchone() == ("p",)


def test_plaintext_residue_names_each_place_with_an_action(shop):
    validated(shop)
    shop.execute(f"ANALYZE {TABLE}")
    places = {r[0]: (r[1], r[2]) for r in shop.execute("SELECT * FROM colcrypt.plaintext_residue(%s)", (TABLE,))}
    assert {"plaintext table", "planner statistics", "WAL", "server log"} <= set(places), places
    assert "ssn" in places["planner statistics"][0] and "email" in places["planner statistics"][0]
    assert "log_statement = all" in places["server log"][0]  # the test cluster logs every statement
    assert all(action for _, action in places.values())


def test_a_char_key_and_a_table_owned_by_another_role(db, conn, app_role):
    conn.execute("CREATE TABLE codes (code char(4) PRIMARY KEY, ssn text)")
    conn.execute("INSERT INTO codes VALUES ('AB', 's1'), ('ABCD', 's2')")
    conn.execute(f"ALTER TABLE codes OWNER TO {app_role}")  # the DBA migrates a table it does not own
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (app_role,))
    conn.execute("SELECT colcrypt.prepare('codes', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('codes')")
    conn.execute("SELECT colcrypt.validate('codes')")
    conn.execute("SELECT colcrypt.cutover('codes', 'reads')")
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        # char(4) keys: the context is the key's ::text form ('AB'), as at encryption, not its output ('AB  ')
        assert app.execute("SELECT code, ssn FROM codes ORDER BY code").fetchall() == [("AB  ", "s1"), ("ABCD", "s2")]
    conn.execute("SELECT colcrypt.rollback('codes')")  # (so that the role and what it owns can go)
