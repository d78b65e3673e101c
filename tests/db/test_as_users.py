"""What the application's roles and a non-superuser table owner do through the table's name, at every stage
of a migration: their schema changes, row locks, LOCK TABLE, CREATE INDEX and ANALYZE, and what a revoked
role can still reach (nothing)."""

import threading

import psycopg
import pytest

from tests.db.helpers import STAGES, raises_sqlstate, scalar, walk

TABLE = """
CREATE TABLE app.jobs (id int PRIMARY KEY, state text NOT NULL DEFAULT 'queued', ssn text, note text);
INSERT INTO app.jobs (id, ssn) SELECT g, 'ssn-' || g::text FROM generate_series(1, 20) AS g;
"""


@pytest.fixture
def jobs(roles):
    with roles.connect(roles.owner) as owner:
        owner.execute(TABLE)
        owner.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON app.jobs TO "{roles.app}"')
    return roles


def test_a_table_owners_ddl_works_with_colcrypt_installed(conn, roles):
    """0.2.0's DDL guard read colcrypt.migrations as the DDL's author: every non-superuser's ALTER TABLE and
    DROP TABLE failed with 42501, on any table, before any migration."""
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.t (id int PRIMARY KEY, ssn text)")
        owner.execute("ALTER TABLE app.t ADD COLUMN born date, ALTER COLUMN ssn SET NOT NULL")
        owner.execute("CREATE TEMP TABLE scratch (a int); ALTER TABLE scratch ADD COLUMN b int; DROP TABLE scratch")
        owner.execute("ALTER TABLE app.t RENAME TO t2; DROP TABLE app.t2")
        owner.execute("CREATE TABLE app.t (id int PRIMARY KEY, ssn text)")
    conn.execute("SELECT FROM colcrypt.prepare('app.t', ARRAY['ssn'], 'k')")
    with roles.connect(roles.owner) as owner:
        # what a migration needs unchanged is refused, with what it is
        with raises_sqlstate("KC020", "ADD COLUMN (app.t)"):
            owner.execute("ALTER TABLE app.t ADD COLUMN x int")
        with raises_sqlstate("KC020", "RENAME"):
            owner.execute("ALTER TABLE app.t RENAME COLUMN ssn TO s")
        with raises_sqlstate("KC020", "DROP of app.t_encrypted"):
            owner.execute("DROP TABLE app.t_encrypted")
        # what an application's migration tool and pg_restore do to a table is not
        owner.execute("ALTER TABLE app.t ADD CONSTRAINT ssn_long CHECK (length(ssn) > 2) NOT VALID")
        owner.execute("ALTER TABLE app.t VALIDATE CONSTRAINT ssn_long, ALTER COLUMN id SET STATISTICS 500")
        owner.execute("CREATE INDEX ON app.t (id) INCLUDE (ssn); ANALYZE app.t")
        owner.execute("ALTER TABLE app.t ENABLE ALWAYS TRIGGER colcrypt_dual_write")  # what pg_restore does
        for mode in ("ENABLE", "ENABLE REPLICA", "DISABLE"):  # a session_replication_role would escape them
            with raises_sqlstate("KC020", "TRIGGER"):
                owner.execute(f"ALTER TABLE app.t {mode} TRIGGER colcrypt_dual_write")
        with raises_sqlstate("KC020", "TRIGGER ALL"):
            owner.execute("ALTER TABLE app.t ENABLE TRIGGER ALL")
        owner.execute("CREATE TEMP TABLE scratch (a int); ALTER TABLE scratch ADD COLUMN b int; DROP TABLE scratch")
    conn.execute("SELECT FROM colcrypt.rollback('app.t')")
    with roles.connect(roles.owner) as owner:
        owner.execute("ALTER TABLE app.t ADD COLUMN x int; DROP TABLE app.t")


def test_row_locks_and_lock_table_through_the_name_at_every_stage(conn, jobs):
    """From the read cutover on, 0.2.0 refused FOR UPDATE, FOR SHARE and LOCK TABLE through the name (42501
    on the shadow): job queues, select_for_update and with_for_update failed."""
    roles = jobs

    def at(stage: str) -> None:
        with roles.connect(roles.app) as worker, roles.connect(roles.app) as other:
            with worker.transaction():
                got = worker.execute("SELECT id, ssn FROM app.jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
                                     " FOR UPDATE SKIP LOCKED").fetchone()
                with other.transaction():  # a second worker skips the locked job and takes the next
                    second = other.execute("SELECT id FROM app.jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
                                           " FOR UPDATE SKIP LOCKED").fetchone()
                    assert second[0] == got[0] + 1, stage
                    with pytest.raises(psycopg.errors.LockNotAvailable):
                        other.execute("SELECT FROM app.jobs WHERE id = %s FOR UPDATE NOWAIT", (got[0],))
                worker.execute("UPDATE app.jobs SET state = 'done', note = %s WHERE id = %s", (stage, got[0]))
            for mode in ("FOR SHARE", "FOR NO KEY UPDATE", "FOR KEY SHARE"):
                with worker.transaction():
                    assert worker.execute(f"SELECT ssn FROM app.jobs WHERE id = 20 {mode}").fetchone() == ("ssn-20",)
            with worker.transaction():
                worker.execute("LOCK TABLE app.jobs IN ROW EXCLUSIVE MODE")
                worker.execute("LOCK TABLE app.jobs IN SHARE MODE NOWAIT")
        assert scalar(conn, "SELECT note FROM app.jobs WHERE id = %s", (STAGES.index(stage) + 1,)) == stage

    walk(conn, "app.jobs", ["ssn"], at)


def test_a_waiting_update_through_the_name_sees_the_row_a_lock_protected(conn, jobs):
    roles = jobs
    walk(conn, "app.jobs", ["ssn"], lambda stage: None, until="cutover_writes")
    with roles.connect(roles.app) as first, roles.connect(roles.app) as second:
        first.execute("BEGIN")
        first.execute("SELECT FROM app.jobs WHERE id = 1 FOR UPDATE")
        done = threading.Event()

        def take() -> None:
            with second.transaction():
                second.execute("SELECT FROM app.jobs WHERE id = 1 FOR UPDATE")  # waits for the first
                second.execute("UPDATE app.jobs SET note = coalesce(note, '') || 'second' WHERE id = 1")
            done.set()

        waiter = threading.Thread(target=take)
        waiter.start()
        assert not done.wait(0.5)  # blocked by the first's row lock
        first.execute("UPDATE app.jobs SET note = 'first;' WHERE id = 1")
        first.execute("COMMIT")
        waiter.join(10)
    assert scalar(conn, "SELECT note FROM app.jobs WHERE id = 1") == "first;second"


def test_the_owner_indexes_and_analyzes_the_table_that_holds_its_rows(conn, jobs):
    """In 0.2.0 the shadow belonged to the DBA: its owner could not CREATE INDEX or ANALYZE it after the
    cutover."""
    roles = jobs

    def at(stage: str) -> None:
        with roles.connect(roles.owner) as owner:
            n = STAGES.index(stage)
            owner.execute(f"CREATE INDEX jobs_state_{n} ON app.jobs_encrypted (state)")
            owner.execute("ANALYZE app.jobs_encrypted")
            owner.execute("VACUUM app.jobs_encrypted")
            assert scalar(owner, "SELECT relowner::regrole::text FROM pg_class WHERE oid = 'app.jobs_encrypted'"
                                 "::regclass") == roles.owner

    walk(conn, "app.jobs", ["ssn"], at)


def test_after_the_read_cutover_only_the_name_reaches_the_rows(conn, jobs):
    """In 0.2.0 roles that could read the table kept reading <table>_plaintext after the read cutover, even
    once their key grant and their SELECT on the name were revoked. From 0.3.0 the read cutover changes no
    table: the name's reads go to the shadow with the name's privileges, and the shadow itself stays closed."""
    roles = jobs
    walk(conn, "app.jobs", ["ssn"], lambda stage: None, until="cutover_reads")
    with roles.connect(roles.app) as app:
        assert scalar(app, "SELECT ssn FROM app.jobs WHERE id = 3") == "ssn-3"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT * FROM app.jobs_encrypted")
        assert scalar(app, "SELECT count(*) FROM pg_stats WHERE tablename = 'jobs_encrypted'") == 0
    with roles.connect(roles.owner) as owner:
        owner.execute(f'REVOKE SELECT ON app.jobs FROM "{roles.app}"')
    with roles.connect(roles.app) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT ssn FROM app.jobs")
    conn.execute("SELECT FROM colcrypt.rollback('app.jobs')")  # the table's grantees get back what the name had
    with roles.connect(roles.app) as app:
        app.execute("INSERT INTO app.jobs (id, ssn) VALUES (99, 'after rollback')")  # no SELECT needed
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT ssn FROM app.jobs")


def test_a_revoked_membership_reaches_running_sessions(db, conn, jobs):
    """A key granted to a group role: a member's running session loses it when the membership is revoked
    (0.2.0 kept the key until the session ended)."""
    roles = jobs
    group = f"{db.name}_readers"
    conn.execute(f'CREATE ROLE "{group}"; GRANT "{group}" TO "{roles.app}"')
    conn.execute("SELECT colcrypt.revoke_key('k', %s), colcrypt.grant_key('k', %s)", (roles.app, group))
    walk(conn, "app.jobs", ["ssn"], lambda stage: None, until="cutover_reads")
    with roles.connect(roles.app) as app:
        assert scalar(app, "SELECT ssn FROM app.jobs WHERE id = 4") == "ssn-4"
        conn.execute(f'REVOKE "{group}" FROM "{roles.app}"')
        with raises_sqlstate("42501"):
            app.execute("SELECT ssn FROM app.jobs WHERE id = 4")
        conn.execute(f'GRANT "{group}" TO "{roles.app}"')
        assert scalar(app, "SELECT ssn FROM app.jobs WHERE id = 4") == "ssn-4"
    conn.execute(f'REVOKE "{group}" FROM "{roles.app}"; DROP ROLE "{group}"')


# Django's sqlsequencereset (and Rails' reset_pk_sequence!) after rows were loaded with explicit keys
RESET = ("SELECT setval(pg_get_serial_sequence('\"app\".\"items\"', %s), coalesce(max({col}), 1), max({col})"
         " IS NOT null) FROM \"app\".\"items\"")


def test_sequence_resets_through_the_name_at_every_stage(conn, roles):
    """After the read cutover 0.2.0's pg_get_serial_sequence on the name was NULL: a reset did nothing, and the
    next insert failed with 23505."""
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.items (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, no bigserial,"
                      " ssn text); INSERT INTO app.items (ssn) SELECT 's' || g::text FROM generate_series(1, 5) g")
        owner.execute(f'GRANT SELECT, INSERT, UPDATE ON app.items TO "{roles.app}";'
                      f' GRANT ALL ON SEQUENCE app.items_id_seq, app.items_no_seq TO "{roles.app}"')

    loads = []

    def at(stage: str) -> None:
        loads.append(stage)
        n = 100 * len(loads)
        with roles.connect(roles.app) as app:
            app.execute("INSERT INTO app.items (id, no, ssn) SELECT g, g, 'loaded'"
                        " FROM generate_series(%s::int, %s::int) g", (n, n + 9))
            for col in ("id", "no"):
                assert app.execute(RESET.format(col=col), (col,)).fetchone() == (n + 9,), (stage, col)
            assert app.execute("INSERT INTO app.items (ssn) VALUES ('next') RETURNING id, no").fetchone() == \
                (n + 10, n + 10), stage

    walk(conn, "app.items", ["ssn"], at, until="cutover_writes")
    assert scalar(conn, "SELECT column_default FROM information_schema.columns WHERE table_schema = 'app'"
                        " AND table_name = 'items' AND column_name = 'no'") == "nextval('app.items_no_seq'::regclass)"
    conn.execute("SELECT FROM colcrypt.rollback('app.items')")  # the table's identity again, where it was
    assert conn.execute("SELECT attidentity::text, pg_get_serial_sequence('app.items', 'id') FROM pg_attribute"
                        " WHERE attrelid = 'app.items'::regclass AND attname = 'id'").fetchone() == \
        ("d", "app.items_id_seq")
    assert scalar(conn, "SELECT pg_get_serial_sequence('app.items', 'no')") == "app.items_no_seq"
    assert scalar(conn, "INSERT INTO app.items (ssn) VALUES ('after rollback') RETURNING id") == 411
    walk(conn, "app.items", ["ssn"], at)  # and again, to the end


PAGILA_LIKE = """
CREATE TABLE app.customer (customer_id int PRIMARY KEY, first_name text, email text, active boolean);
INSERT INTO app.customer SELECT g, 'n' || g::text, 'c' || g::text || '@example.org', g % 2 = 0
FROM generate_series(1, 10) AS g;
CREATE FUNCTION app.active_customers() RETURNS SETOF app.customer LANGUAGE sql STABLE
    AS 'SELECT * FROM app.customer WHERE active ORDER BY customer_id';
CREATE FUNCTION app.rewards_report(min_id int) RETURNS SETOF app.customer LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY SELECT c.* FROM app.customer AS c WHERE c.customer_id >= min_id ORDER BY 1; END $$;
"""


def test_a_function_that_returns_the_tables_rows_keeps_working(conn, roles):
    """Pagila's rewards_report returns SETOF customer: the rename bound it to customer_plaintext, and 0.2.0's
    cleanup then failed with a raw 2BP01."""
    with roles.connect(roles.owner) as owner:
        owner.execute(PAGILA_LIKE)
        owner.execute(f'GRANT SELECT ON app.customer TO "{roles.app}"')
    users = ["function app.active_customers()", "function app.rewards_report(integer)"]

    def at(stage: str) -> None:
        if stage == "dual_write":
            found = conn.execute("SELECT detail FROM colcrypt.preflight('app.customer') WHERE kind = 'row_type'")
            assert sorted(r[0] for r in found) == users
        with roles.connect(roles.app) as app:
            assert app.execute("SELECT email FROM app.active_customers() LIMIT 2").fetchall() == [
                ("c2@example.org",), ("c4@example.org",)], stage
            assert app.execute("SELECT count(*), min(email) FROM app.rewards_report(9)").fetchone() == \
                (2, "c10@example.org"), stage

    walk(conn, "app.customer", ["email"], at, until="finalized")
    with raises_sqlstate("KC025", "function app.active_customers()"):
        conn.execute("SELECT FROM colcrypt.cleanup('app.customer', '0')")
    with roles.connect(roles.owner) as owner:  # re-created on the name's type, as the HINT says
        owner.execute("DROP FUNCTION app.active_customers(), app.rewards_report(int)")
        owner.execute(PAGILA_LIKE.split(";\n", 2)[2])
    conn.execute("SELECT FROM colcrypt.cleanup('app.customer', '0')")
    at("cleaned")


def test_a_function_that_takes_the_tables_rows_stops_the_read_cutover(conn, roles):
    with roles.connect(roles.owner) as owner:
        owner.execute(PAGILA_LIKE + "CREATE FUNCTION app.greeting(c app.customer) RETURNS text LANGUAGE sql"
                                    " AS 'SELECT ''Dear '' || c.first_name'")
    # the read cutover changes no table (the name keeps its type); the write cutover, which still puts 0.2's
    # view under the name in this version, is refused
    walk(conn, "app.customer", ["email"], lambda stage: None, until="cutover_reads")
    assert scalar(conn, "SELECT app.greeting(c) FROM app.customer AS c WHERE customer_id = 1") == "Dear n1"
    with raises_sqlstate("KC027", "function app.greeting(app.customer)"):
        conn.execute("SELECT FROM colcrypt.cutover('app.customer', 'writes')")
    assert scalar(conn, "SELECT state FROM colcrypt.migrations") == "cutover_reads"
    assert scalar(conn, "SELECT app.greeting(c) FROM app.customer AS c WHERE customer_id = 1") == "Dear n1"


def test_two_identity_columns_through_the_name_and_back(conn, roles):
    """With two identity columns the name's view draws both from sequences it owns; a rollback used to fail
    dropping one of them while a default of the view still drew from it."""
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.pairs (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                      " ticket bigint GENERATED BY DEFAULT AS IDENTITY (START 500), ssn text);"
                      " INSERT INTO app.pairs (ssn) VALUES ('a'), ('b')")
    walk(conn, "app.pairs", ["ssn"], lambda stage: None, until="cutover_reads")
    conn.execute("INSERT INTO app.pairs (ssn) VALUES ('c')")
    assert conn.execute("SELECT id, ticket FROM app.pairs WHERE ssn = 'c'").fetchone() == (3, 502)
    conn.execute("SELECT FROM colcrypt.rollback('app.pairs')")
    assert conn.execute("SELECT string_agg(attname || '=' || attidentity::text, ',' ORDER BY attnum) FROM pg_attribute"
                        " WHERE attrelid = 'app.pairs'::regclass AND attnum IN (1, 2)").fetchone() == ("id=a,ticket=d",)
    assert conn.execute("INSERT INTO app.pairs (ssn) VALUES ('d') RETURNING id, ticket").fetchone() == (4, 503)


def test_force_row_level_security_hides_no_row_from_the_steps(conn, roles):
    """The steps run as the owner; with FORCE ROW LEVEL SECURITY its policies would have hidden rows from the
    backfill and the validation (which then passed, over the rows it saw)."""
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.tenants (id int PRIMARY KEY, tenant text NOT NULL, ssn text);"
                      " INSERT INTO app.tenants SELECT g, 't' || (g % 3)::text, 's' || g::text"
                      " FROM generate_series(1, 30) g;"
                      " ALTER TABLE app.tenants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;"
                      " CREATE POLICY mine ON app.tenants USING (tenant = current_setting('app.tenant', true))")
    walk(conn, "app.tenants", ["ssn"], lambda stage: None, until="validated")
    assert conn.execute("SELECT rows_done FROM colcrypt.progress").fetchone() == (30,)
    assert conn.execute("SELECT total, valid FROM colcrypt.validate('app.tenants')").fetchone() == (30, 30)


def test_an_owner_whose_name_needs_quotes(db, conn):
    """Role names arrive quoted from the catalog (regrole): 0.2.0's code quoted them again."""
    owner = f'{db.name} Owner-X'
    conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN; CREATE SCHEMA quoted AUTHORIZATION {}").format(
        psycopg.sql.Identifier(owner), psycopg.sql.Identifier(owner)))
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (psycopg.sql.Identifier(owner).as_string(conn),))
    try:
        with psycopg.connect(db.cluster.dsn(db.name), user=owner, autocommit=True) as o:
            o.execute("CREATE TABLE quoted.t (id serial PRIMARY KEY, ssn text);"
                      " INSERT INTO quoted.t (ssn) VALUES ('x')")
        walk(conn, "quoted.t", ["ssn"], lambda stage: None)
        assert scalar(conn, "SELECT relowner::regrole::text FROM pg_class WHERE oid = 'quoted.t_encrypted'::regclass") \
            == f'"{owner}"'
        assert scalar(conn, "SELECT ssn FROM quoted.t") == "x"
    finally:
        conn.execute("SET colcrypt.allow_ddl = on")
        conn.execute(psycopg.sql.SQL("DROP OWNED BY {} CASCADE; DROP ROLE {}").format(
            psycopg.sql.Identifier(owner), psycopg.sql.Identifier(owner)))
