"""The table that stores ciphertext under the name (docs/design/cutover.md): the access method colcrypt
seals each encrypted column, the planner hook decrypts every read of it, and PostgreSQL's own executor
runs every statement. Each test builds the table's final shape itself (what the write cutover gives
the name), registers it in colcrypt.encrypted_columns as a DBA does, then works as the application's
role and the table's owner, neither a superuser. The suite's cluster does not preload colcrypt, so
every connection here also shows that opening such a table loads the hook."""

import contextlib
import subprocess
import threading
import time

import psycopg
import pytest

from tests.db.helpers import raises_sqlstate, scalar

CONTEXT = '"app"."acct"."email"'


@pytest.fixture
def acct(db, roles):
    """app.acct(id, email encrypted with a blind index, unique; balance; note), owned by the owner,
    read and written by the application."""
    with roles.connect(roles.owner) as c:
        c.execute("""CREATE TABLE app.acct (
            id integer PRIMARY KEY, email text, balance integer NOT NULL DEFAULT 0, note text,
            email_encrypted bytea, email_bidx bytea) USING colcrypt""")
        c.execute("CREATE UNIQUE INDEX acct_email_key ON app.acct (email_bidx)")
        c.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON app.acct TO "{roles.app}"')
    with db.connect() as c:
        c.execute("INSERT INTO colcrypt.encrypted_columns VALUES ('app.acct', 'email', 'email_encrypted',"
                  " 'email_bidx', 'k', %s, '{id}')", (CONTEXT,))
    with roles.connect(roles.app) as c:
        c.execute("INSERT INTO app.acct (id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com'), (3, NULL)")
    return "app.acct"


@contextlib.contextmanager
def reader(db, name: str):
    """A login role that may read app.acct and holds no key grant, dropped afterwards."""
    with db.connect() as c:
        c.execute(f"CREATE ROLE {name} LOGIN")
        c.execute(f"GRANT USAGE ON SCHEMA app TO {name}")
        c.execute(f"GRANT SELECT ON app.acct TO {name}")
    try:
        with psycopg.connect(db.cluster.dsn(db.name, user=name), autocommit=True) as c:
            yield c
    finally:
        with db.connect() as c:
            c.execute(f"DROP OWNED BY {name}")
            c.execute(f"DROP ROLE {name}")


def stored(conn, id_):
    return conn.execute("SELECT email_encrypted, email_bidx FROM app.acct WHERE id = %s", (id_,)).fetchone()


def test_rows_are_stored_sealed_and_read_as_plaintext(db, roles, acct):
    with roles.connect(roles.app) as c:
        assert c.execute("SELECT id, email FROM app.acct ORDER BY id").fetchall() == [
            (1, "a@example.com"), (2, "b@example.com"), (3, None)]
        assert c.execute("SELECT * FROM app.acct WHERE id = 1").fetchone() == (1, "a@example.com", 0, None)
        assert [d.name for d in c.execute("SELECT * FROM app.acct").description] == ["id", "email", "balance", "note"]
    with db.connect() as c:
        envelope = stored(c, 1)[0]
        assert b"a@example.com" not in bytes(envelope)
        assert scalar(c, "SELECT colcrypt.decrypt_column(%s, %s)", (envelope, CONTEXT + "#1")) == "a@example.com"
        # the logical column is NULL on disk: a raw copy of the table's stored form shows it
        out = subprocess.run(["pg_dump", "-a", "-t", "app.acct", db.dsn], capture_output=True, text=True, check=True)
        assert "a@example.com" not in out.stdout


def test_updates_keep_or_replace_the_envelope(roles, acct):
    with roles.connect(roles.app) as c:
        before = stored(c, 1)
        c.execute("UPDATE app.acct SET balance = balance + 5 WHERE id = 1")
        assert stored(c, 1) == before
        c.execute("UPDATE app.acct SET email = upper(email) WHERE id = 1")
        assert stored(c, 1) != before
        assert scalar(c, "SELECT email FROM app.acct WHERE id = 1") == "A@EXAMPLE.COM"
        c.execute("UPDATE app.acct SET email = NULL WHERE id = 1")
        assert stored(c, 1) == (None, None)
        assert c.execute("UPDATE app.acct SET email = 'r@example.com' WHERE id = 1 RETURNING *").fetchone() == (
            1, "r@example.com", 5, None)


def test_concurrent_updates_of_one_row_wait_and_recheck(roles, acct):
    """Two transactions update the same row: the second waits, then re-evaluates its statement on the
    newer row version (EvalPlanQual), decryption included. Nothing is lost, nothing fails."""
    first = roles.connect(roles.app, autocommit=False)
    second = roles.connect(roles.app)
    first.execute("UPDATE app.acct SET balance = balance + 1, email = email || '!' WHERE email = 'b@example.com'")
    done = []
    t = threading.Thread(target=lambda: done.append(second.execute(
        "UPDATE app.acct SET balance = balance + 10, email = email || '?' WHERE id = 2").rowcount))
    t.start()
    time.sleep(0.3)
    assert done == []  # waiting on the first's row lock
    first.commit()
    t.join(10)
    assert done == [1]
    assert second.execute("SELECT email, balance FROM app.acct WHERE id = 2").fetchone() == ("b@example.com!?", 11)
    first.close()
    second.close()


def test_upserts_and_merge(roles, acct):
    with roles.connect(roles.app) as c:
        row = c.execute("INSERT INTO app.acct (id, email) VALUES (2, 'new@example.com') ON CONFLICT (id) DO UPDATE"
                        " SET email = excluded.email, balance = app.acct.balance + 1 RETURNING id, email, balance")
        assert row.fetchone() == (2, "new@example.com", 1)
        assert c.execute("INSERT INTO app.acct (id, email) VALUES (9, 'new@example.com')"
                         " ON CONFLICT (email) DO NOTHING RETURNING id").fetchall() == []
        row = c.execute("INSERT INTO app.acct (id, email) VALUES (9, 'new@example.com') ON CONFLICT (email)"
                        " DO UPDATE SET balance = app.acct.balance + 100 RETURNING id, balance").fetchone()
        assert row == (2, 101)
        with pytest.raises(psycopg.errors.UniqueViolation) as info:  # PostgreSQL's own error: no HINT
            c.execute("INSERT INTO app.acct (id, email) VALUES (10, 'a@example.com')")
        assert "a@example.com" not in str(info.value)  # the key shown is the blind index
        c.execute("""MERGE INTO app.acct a USING (VALUES (3, 'c@example.com'), (11, 'k@example.com')) v(id, e)
                     ON a.id = v.id
                     WHEN MATCHED THEN UPDATE SET email = v.e
                     WHEN NOT MATCHED THEN INSERT (id, email) VALUES (v.id, v.e)""")
        assert c.execute("SELECT id, email FROM app.acct WHERE id IN (3, 11) ORDER BY id").fetchall() == [
            (3, "c@example.com"), (11, "k@example.com")]


def test_row_locks_copy_truncate(db, roles, acct):
    with roles.connect(roles.app, autocommit=False) as a, roles.connect(roles.app, autocommit=False) as b:
        got = a.execute("SELECT id, email FROM app.acct ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
        other = b.execute("SELECT id, email FROM app.acct ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
        assert got == (1, "a@example.com") and other == (2, "b@example.com")
    with roles.connect(roles.app) as c:
        with c.cursor().copy("COPY app.acct TO STDOUT") as copy:
            out = b"".join(bytes(chunk) for chunk in copy).decode()
        assert out.splitlines()[0] == "1\ta@example.com\t0\t\\N"
        with c.cursor().copy("COPY app.acct FROM STDIN") as copy:
            copy.write("20\tcopied@example.com\t7\tn\n")
        assert c.execute("SELECT email, balance FROM app.acct WHERE id = 20").fetchone() == ("copied@example.com", 7)
        # the stored form: a column list with the envelope, as pg_dump writes it
        with c.cursor().copy("COPY app.acct (id, email, email_encrypted) TO STDOUT") as copy:
            dumped = b"".join(bytes(chunk) for chunk in copy).decode()
        assert "a@example.com" not in dumped and "\\\\x0101" in dumped
        c.execute("TRUNCATE app.acct")
        with c.cursor().copy("COPY app.acct (id, email, email_encrypted) FROM STDIN") as copy:
            copy.write(dumped)
        assert c.execute("SELECT id, email FROM app.acct ORDER BY id LIMIT 2").fetchall() == [
            (1, "a@example.com"), (2, "b@example.com")]


def test_owner_ddl_and_indexes(roles, acct):
    with roles.connect(roles.owner) as c:
        c.execute("ALTER TABLE app.acct ADD COLUMN created date DEFAULT '2026-01-01'")
        c.execute("ALTER TABLE app.acct RENAME COLUMN note TO remark")
        c.execute("CREATE INDEX acct_by_email ON app.acct (email)")
        assert "email_bidx" in scalar(c, "SELECT pg_get_indexdef('app.acct_by_email'::regclass)")
        with raises_sqlstate("0A000"):
            c.execute("CREATE INDEX ON app.acct (lower(email))")
        with raises_sqlstate("0A000", "encrypted"):
            c.execute("ALTER TABLE app.acct ADD CONSTRAINT acct_email_unique UNIQUE (email)")
        for ddl in ("ALTER TABLE app.acct DROP COLUMN email", "ALTER TABLE app.acct DROP COLUMN email_encrypted",
                    "ALTER TABLE app.acct ALTER COLUMN email TYPE varchar(100)",
                    "ALTER TABLE app.acct RENAME COLUMN email TO mail",
                    "ALTER TABLE app.acct RENAME COLUMN email_bidx TO b"):
            with raises_sqlstate("0A000", "encrypted"):
                c.execute(ddl)
        c.execute("ALTER TABLE app.acct ALTER COLUMN remark TYPE varchar(200),"
                  " ADD CONSTRAINT positive CHECK (balance >= 0)")
        c.execute("ANALYZE app.acct")
        c.execute("VACUUM app.acct")
        assert scalar(c, "SELECT count(*) FROM pg_stats WHERE tablename = 'acct' AND attname = 'email'"
                         " AND most_common_vals IS NOT NULL") == 0
    with roles.connect(roles.app) as c:
        assert c.execute("SELECT email, created FROM app.acct WHERE id = 1").fetchone()[0] == "a@example.com"


def test_a_role_without_the_key_reads_the_other_columns(db, roles, acct):
    with reader(db, "acct_reader") as c:
        assert scalar(c, "SELECT balance FROM app.acct WHERE id = 1") == 0
        with raises_sqlstate("42501"):
            c.execute("SELECT email FROM app.acct WHERE id = 1")


def test_prepared_statements_follow_a_registration(db, roles):
    """A long-lived session's prepared statement is planned again when the table's encrypted columns change."""
    with roles.connect(roles.owner) as c:
        c.execute("CREATE TABLE app.late (id integer PRIMARY KEY, v text, v_encrypted bytea) USING colcrypt")
        c.execute("INSERT INTO app.late VALUES (1, 'plain', NULL)")
        c.execute(f'GRANT SELECT ON app.late TO "{roles.app}"')
    with roles.connect(roles.app) as app:
        app.execute("PREPARE get AS SELECT v FROM app.late WHERE id = $1")
        assert scalar(app, "EXECUTE get(1)") == "plain"
        with db.connect() as c:
            c.execute("UPDATE app.late SET v_encrypted = colcrypt.encrypt_column(v, 'k', '\"app\".\"late\".\"v\"#1'),"
                      " v = NULL")
            c.execute("INSERT INTO colcrypt.encrypted_columns VALUES ('app.late', 'v', 'v_encrypted', NULL, 'k',"
                      " '\"app\".\"late\".\"v\"', '{id}')")
        assert scalar(app, "EXECUTE get(1)") == "plain"


def test_functions_views_and_json_see_the_plaintext_row(roles, acct):
    with roles.connect(roles.owner) as c:
        # an inlined SQL function's body is planned inside the planner; a PL/pgSQL row variable has the table's type
        c.execute("CREATE FUNCTION app.all_accts() RETURNS SETOF app.acct LANGUAGE sql STABLE"
                  " AS 'SELECT * FROM app.acct'")
        c.execute("CREATE FUNCTION app.email_of(integer) RETURNS text LANGUAGE plpgsql AS"
                  " $$ DECLARE r app.acct; BEGIN SELECT * INTO r FROM app.acct WHERE id = $1; RETURN r.email; END $$")
        c.execute("CREATE VIEW app.acct_view AS SELECT id, email FROM app.acct")
        c.execute(f'GRANT SELECT ON app.acct_view TO "{roles.app}"')
    with roles.connect(roles.app) as c:
        assert c.execute("SELECT id, email FROM app.all_accts() ORDER BY id").fetchall() == [
            (1, "a@example.com"), (2, "b@example.com"), (3, None)]
        assert c.execute("SELECT * FROM app.all_accts() WHERE id = 1").fetchall() == [(1, "a@example.com", 0, None)]
        assert scalar(c, "SELECT app.email_of(2)") == "b@example.com"
        assert scalar(c, "SELECT email FROM app.acct_view WHERE id = 2") == "b@example.com"
        assert c.execute("SELECT * FROM (SELECT * FROM app.acct ORDER BY balance, id) s LIMIT 1").fetchall() == [
            (1, "a@example.com", 0, None)]
        assert scalar(c, "SELECT row_to_json(a)::text FROM app.acct a WHERE id = 1") == \
            '{"id":1,"email":"a@example.com","balance":0,"note":null}'
        assert scalar(c, "SELECT to_jsonb(a) ->> 'email' FROM app.acct a WHERE id = 1") == "a@example.com"
        assert scalar(c, "SELECT (a).email FROM (SELECT a FROM app.acct a WHERE id = 2) s") == "b@example.com"


def test_columns_are_not_decrypted_where_nothing_reads_them(db, roles, acct):
    """A role without the key reads the unencrypted columns, also where the planner scans every column."""
    with reader(db, "acct_counter") as c:
        assert scalar(c, "SELECT count(*) FROM (SELECT id FROM app.acct ORDER BY balance) s") == 3
        assert scalar(c, "SELECT sum(balance) FROM app.acct a JOIN generate_series(1, 3) g ON a.id = g") == 0


def test_read_cutover_sends_plain_reads_to_the_shadow(db, roles, acct):
    """colcrypt.read_redirects: the client's plain reads of the plaintext table read its shadow (decrypted),
    with the table's own privileges; writes and locked reads stay on the table."""
    with roles.connect(roles.owner) as c:
        c.execute("CREATE TABLE app.src (id integer PRIMARY KEY, email text, balance integer NOT NULL DEFAULT 0,"
                  " note text)")
        c.execute("INSERT INTO app.src SELECT id, 'plain-' || coalesce(email, ''), balance, note FROM app.acct")
        c.execute(f'GRANT SELECT, UPDATE ON app.src TO "{roles.app}"')
    with roles.connect(roles.app) as app:
        app.execute("PREPARE get AS SELECT email FROM app.src WHERE id = $1")
        assert scalar(app, "EXECUTE get(1)") == "plain-a@example.com"
        with db.connect() as c:
            c.execute("INSERT INTO colcrypt.migrations (migration_id, table_name, source, shadow, columns, key_columns,"
                      " key_types, key_id, context_prefix, state) VALUES (9001, 'app.src', 'app.src', 'app.acct',"
                      " '{email}', '{id}', '{integer}', 'k', '\"app\".\"acct\"', 'cutover_reads')")
            c.execute("INSERT INTO colcrypt.read_redirects VALUES ('app.src', 'app.acct', 9001)")
        assert scalar(app, "EXECUTE get(1)") == "a@example.com"  # the prepared statement follows
        assert app.execute("SELECT * FROM app.src ORDER BY id LIMIT 2").fetchall() == [
            (1, "a@example.com", 0, None), (2, "b@example.com", 0, None)]
        assert scalar(app, "SELECT row_to_json(s)::text FROM app.src s WHERE id = 2") == \
            '{"id":2,"email":"b@example.com","balance":0,"note":null}'
        plan = "\n".join(r[0] for r in app.execute("EXPLAIN (VERBOSE) SELECT email FROM app.src WHERE id = 1"))
        assert "acct" in plan and "decrypt_column" in plan
        # writes, and reads that lock, are the table's
        assert app.execute("UPDATE app.src SET balance = 5 WHERE id = 1 RETURNING email").fetchone() == (
            "plain-a@example.com",)
        assert scalar(app, "SELECT email FROM app.src WHERE id = 1 FOR UPDATE") == "plain-a@example.com"
        with db.connect() as c:
            c.execute("DELETE FROM colcrypt.read_redirects")
        assert scalar(app, "EXECUTE get(1)") == "plain-a@example.com"
    with db.connect() as c:
        c.execute("CREATE ROLE src_stranger LOGIN")
        c.execute("GRANT USAGE ON SCHEMA app TO src_stranger")
        c.execute("INSERT INTO colcrypt.read_redirects VALUES ('app.src', 'app.acct', 9001)")
    try:
        with psycopg.connect(db.cluster.dsn(db.name, user="src_stranger"), autocommit=True) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="src"):
                c.execute("SELECT id FROM app.src")
    finally:
        with db.connect() as c:
            c.execute("DELETE FROM colcrypt.read_redirects")
            c.execute("DROP OWNED BY src_stranger")
            c.execute("DROP ROLE src_stranger")
