"""colcrypt.prepare(): the shadow table, dual-write triggers for every kind of write, and bad input
refused with nothing left behind."""

import psycopg
import pytest

from tests.db.helpers import column_context, raises_sqlstate, scalar

CUSTOMERS = """
CREATE SCHEMA crm;
CREATE TABLE crm.customers (id bigint PRIMARY KEY, name text NOT NULL, ssn text, email varchar(80),
                            born date, score numeric(6,2) DEFAULT 1.5);
INSERT INTO crm.customers SELECT g, 'n' || g, lpad(g::text, 3, '0') || '-45-6789', 'u' || g || '@x.org',
       DATE '1970-01-01' + g, g / 7.0 FROM generate_series(1, 20) g;
"""


def decrypted(conn, table="crm.customers", key="id", cols=("ssn", "email", "born")):
    """The shadow's rows decrypted, as {key: (col, ...)}, with the context prepare binds."""
    shadow = table + "_encrypted"
    exprs = ", ".join(f"colcrypt.decrypt_column({c}_encrypted, %s || ({key})::text)" for c in cols)
    rows = conn.execute(f"SELECT {key}, {exprs} FROM {shadow}",
                        [column_context(conn, table, c) + "#" for c in cols]).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def plaintext(conn, table="crm.customers", key="id", cols=("ssn", "email", "born")):
    rows = conn.execute(f"SELECT {key}, {', '.join(f'({c})::text' for c in cols)} FROM {table}").fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.fixture
def crm(conn):
    conn.execute(CUSTOMERS)
    return conn


def prepare(conn, table="crm.customers", cols=("ssn", "email", "born"), key="k"):
    return conn.execute("SELECT * FROM colcrypt.prepare(%s, %s, %s)", (table, list(cols), key)).fetchone()


def test_prepare_creates_shadow_triggers_and_records(crm):
    migration_id, shadow, key_columns = prepare(crm)
    assert shadow == 'crm."customers_encrypted"' or shadow.endswith('"customers_encrypted"')
    assert key_columns == ["id"]
    cols = crm.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid ="
                       " 'crm.customers_encrypted'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
    # the table the name will be: its columns in order (the encrypted ones stored NULL), then their envelopes
    assert cols == [("id", "bigint"), ("name", "text"), ("ssn", "text"), ("email", "character varying(80)"),
                    ("born", "date"),
                    ("score", "numeric(6,2)"), ("ssn_encrypted", "bytea"), ("email_encrypted", "bytea"),
                    ("born_encrypted", "bytea"), ("encryption_key_id", "text"),
                    ("encryption_algorithm", "text"), ("encrypted_at", "timestamp with time zone"),
                    ("migration_status", "text")]
    assert scalar(crm, "SELECT amname FROM pg_am a JOIN pg_class c ON c.relam = a.oid"
                       " WHERE c.oid = 'crm.customers_encrypted'::regclass") == "colcrypt"
    assert crm.execute("SELECT column_name, envelope_column, blind_index_column, context, key_columns"
                       " FROM colcrypt.encrypted_columns ORDER BY column_name").fetchall() == [
        ("born", "born_encrypted", None, '"crm"."customers"."born"', ["id"]),
        ("email", "email_encrypted", None, '"crm"."customers"."email"', ["id"]),
        ("ssn", "ssn_encrypted", None, '"crm"."customers"."ssn"', ["id"])]
    triggers = dict(crm.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'crm.customers'::regclass"
                                ).fetchall())
    assert triggers == {"colcrypt_dual_write": "A", "colcrypt_truncate": "A"}
    assert crm.execute("SELECT state, columns, key_id FROM colcrypt.migrations").fetchone() == \
        ("dual_write", ["ssn", "email", "born"], "k")
    assert crm.execute("SELECT event, outcome FROM colcrypt.migration_events WHERE migration_id = %s",
                       (migration_id,)).fetchall() == [("prepare", "ok")]
    assert scalar(crm, "SELECT count(*) FROM crm.customers_encrypted") == 0  # the backfill copies history


def test_every_kind_of_write_reaches_the_shadow(crm):
    prepare(crm)
    crm.execute("INSERT INTO crm.customers (id, name, ssn, email, born) VALUES (100, 'a', '001-01-0001', 'a@b.c',"
                " '1999-12-31'), (101, 'b', NULL, NULL, NULL)")
    crm.execute("UPDATE crm.customers SET ssn = '002-02-0002', email = NULL WHERE id = 100")
    crm.execute("UPDATE crm.customers SET id = 102 WHERE id = 101")  # key change
    crm.execute("INSERT INTO crm.customers (id, name, ssn) VALUES (103, 'c', 'x') ON CONFLICT (id) DO NOTHING")
    crm.execute("INSERT INTO crm.customers (id, name, ssn) VALUES (103, 'c', 'y')"
                " ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn")
    with crm.cursor().copy("COPY crm.customers (id, name, email) FROM STDIN") as copy:
        copy.write_row((104, "d", "d@e.f"))
    crm.execute("SET session_replication_role = replica")
    crm.execute("INSERT INTO crm.customers (id, name, ssn) VALUES (105, 'e', 'replica')")
    crm.execute("RESET session_replication_role")
    crm.execute("DELETE FROM crm.customers WHERE id = 5")
    crm.execute("INSERT INTO crm.customers (id, name, score) VALUES (106, 'f', NULL)")  # explicit NULL, not the default
    expected = {k: v for k, v in plaintext(crm).items() if k >= 100}
    assert decrypted(crm) == expected
    assert decrypted(crm)[100] == ("002-02-0002", None, "1999-12-31")
    assert scalar(crm, "SELECT score FROM crm.customers_encrypted WHERE id = 100") == scalar(
        crm, "SELECT score FROM crm.customers WHERE id = 100")  # defaults arrive as written
    assert crm.execute("SELECT score FROM crm.customers_encrypted WHERE id = 106").fetchone() == (None,)
    crm.execute("TRUNCATE crm.customers")
    assert scalar(crm, "SELECT count(*) FROM crm.customers_encrypted") == 0


def test_applications_need_no_key_and_no_grant_on_the_shadow(db, crm, app_role):
    prepare(crm)
    crm.execute(f"GRANT USAGE ON SCHEMA crm TO {app_role}; GRANT INSERT, UPDATE, DELETE, SELECT ON crm.customers"
                f" TO {app_role}")
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        app.execute("INSERT INTO crm.customers (id, name, ssn) VALUES (200, 'app', '123-45-6789')")
        app.execute("UPDATE crm.customers SET ssn = NULL WHERE id = 200")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="customers_encrypted"):
            app.execute("SELECT ssn_encrypted FROM crm.customers_encrypted")
    assert decrypted(crm)[200] == (None, None, None)


def test_the_tables_own_triggers_keep_firing(crm):
    crm.execute("""
        CREATE TABLE crm.audit (id bigint, op text);
        CREATE FUNCTION crm.audit_fn() RETURNS trigger LANGUAGE plpgsql AS
        $$BEGIN INSERT INTO crm.audit VALUES (NEW.id, TG_OP); NEW.name := upper(NEW.name); RETURN NEW; END$$;
        CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON crm.customers FOR EACH ROW EXECUTE FUNCTION crm.audit_fn();
    """)
    prepare(crm)
    crm.execute("INSERT INTO crm.customers (id, name, ssn) VALUES (300, 'lower', 's')")
    assert scalar(crm, "SELECT op FROM crm.audit WHERE id = 300") == "INSERT"
    assert scalar(crm, "SELECT name FROM crm.customers_encrypted WHERE id = 300") == "LOWER"  # the final row


def test_composite_text_and_quoted_keys_and_partitions(conn):
    conn.execute("""
        CREATE SCHEMA "Legacy CRM";
        CREATE TABLE "Legacy CRM"."Orders" ("Region" text, "OrderNo" int, "Card No" text, placed date,
                                             PRIMARY KEY ("Region", "OrderNo")) PARTITION BY LIST ("Region");
        CREATE TABLE "Legacy CRM"."Orders_eu" PARTITION OF "Legacy CRM"."Orders" FOR VALUES IN ('eu');
        CREATE TABLE "Legacy CRM"."Orders_us" PARTITION OF "Legacy CRM"."Orders" FOR VALUES IN ('us');
        INSERT INTO "Legacy CRM"."Orders" VALUES ('eu', 1, '4111 1111 1111 1111', '2024-01-01');
    """)
    prepare(conn, '"Legacy CRM"."Orders"', ["Card No"])
    conn.execute("""INSERT INTO "Legacy CRM"."Orders_us" VALUES ('us', 2, '5555 5555 5555 4444', '2024-02-02')""")
    conn.execute("""UPDATE "Legacy CRM"."Orders" SET "Region" = 'us' WHERE "OrderNo" = 1""")  # moves partition
    rows = conn.execute('SELECT "Region", "OrderNo", colcrypt.decrypt_column("Card No_encrypted",'
                        ' %s || ROW("Region", "OrderNo")::text) FROM "Legacy CRM"."Orders_encrypted" ORDER BY 2',
                        ('"Legacy CRM"."Orders"."Card No"#',)).fetchall()  # the context, spelled out once
    assert rows == [("us", 1, "4111 1111 1111 1111"), ("us", 2, "5555 5555 5555 4444")]
    conn.execute('TRUNCATE "Legacy CRM"."Orders_eu"')  # a partition: shadow keeps the other rows
    assert scalar(conn, 'SELECT count(*) FROM "Legacy CRM"."Orders_encrypted"') == 2
    conn.execute('TRUNCATE "Legacy CRM"."Orders_us"')
    assert scalar(conn, 'SELECT count(*) FROM "Legacy CRM"."Orders_encrypted"') == 0


BAD = [
    ("crm.nope", ["ssn"], "k", "42P01", "crm.nope does not exist"),
    ("crm.v", ["ssn"], "k", "42809", "is not a table"),
    ("crm.nokey", ["ssn"], "k", "KC014", "no primary key"),
    ("crm.customers", ["ssn", "nope"], "k", "42703", "column nope of crm.customers does not exist"),
    ("crm.customers", ["id"], "k", "KC015", "part of the key"),
    ("crm.customers", [], "k", "KC008", "no columns given"),
    ("crm.customers", ["ssn", "ssn"], "k", "KC008", "duplicates"),
    ("crm.customers", ["email"], "k", "KC015", "customers_email_key"),
    ("crm.customers", ["ssn"], "nokey", "KC004", "'nokey' is not in colcrypt.keyring"),
    ("crm.customers", ["ssn"], None, "KC008", "p_key_id is empty"),
    ("crm.orders", ["customer_ssn"], "k", "KC015", "constraint orders_customer_ssn_fkey"),
    ("crm.customers", ["name"], "k", "KC015", "name_upper"),
]


@pytest.mark.parametrize(("table", "cols", "key", "sqlstate", "match"), BAD, ids=[b[3] + ":" + b[4] for b in BAD])
def test_bad_input_is_refused_and_leaves_nothing(crm, table, cols, key, sqlstate, match):
    crm.execute("""
        CREATE VIEW crm.v AS SELECT * FROM crm.customers;
        CREATE TABLE crm.nokey (ssn text);
        ALTER TABLE crm.customers ADD CONSTRAINT customers_email_key UNIQUE (email),
            ADD COLUMN name_upper text GENERATED ALWAYS AS (upper(name)) STORED;
        CREATE TABLE crm.people (id int PRIMARY KEY, ssn text UNIQUE);
        CREATE TABLE crm.orders (id int PRIMARY KEY, customer_ssn text REFERENCES crm.people (ssn));
    """)
    before = scalar(crm, "SELECT count(*) FROM pg_class") + scalar(crm, "SELECT count(*) FROM pg_trigger")
    with raises_sqlstate(sqlstate, match):
        crm.execute("SELECT * FROM colcrypt.prepare(%s, %s, %s)", (table, cols, key))
    assert scalar(crm, "SELECT count(*) FROM pg_class") + scalar(crm, "SELECT count(*) FROM pg_trigger") == before
    assert scalar(crm, "SELECT count(*) FROM colcrypt.migrations") == 0


def test_second_prepare_and_leftovers_are_refused(crm):
    prepare(crm)
    with raises_sqlstate("KC016", "already being migrated"):
        prepare(crm)
    crm.execute("CREATE TABLE crm.other (id int PRIMARY KEY, ssn text); CREATE TABLE crm.other_encrypted (x int)")
    with raises_sqlstate("KC019", "other_encrypted\" already exists"):
        prepare(crm, "crm.other", ["ssn"])
    crm.execute("CREATE TABLE crm.meta (id int PRIMARY KEY, ssn text, migration_status text)")
    with raises_sqlstate("KC019", "already has column(s) migration_status"):
        prepare(crm, "crm.meta", ["ssn"])


@pytest.mark.parametrize("ddl", [
    "ALTER TABLE crm.customers ADD COLUMN extra text",
    "ALTER TABLE crm.customers DROP COLUMN email",
    "ALTER TABLE crm.customers RENAME TO people",
    "ALTER TABLE crm.customers_encrypted ADD COLUMN x int",
    "DROP TABLE crm.customers",
    "DROP TABLE crm.customers_encrypted",
    "DROP SCHEMA crm CASCADE",
])
def test_ddl_on_a_table_being_migrated_is_refused(crm, ddl):
    prepare(crm)
    with raises_sqlstate("KC020", "crm.customers is being migrated"):
        crm.execute(ddl)
    crm.execute("INSERT INTO crm.customers (id, name, ssn) VALUES (400, 'still', 'works')")
    assert decrypted(crm)[400][0] == "works"
    crm.execute("CREATE INDEX ON crm.customers (name)")  # other DDL is fine
    with crm.transaction():
        crm.execute("SET LOCAL colcrypt.allow_ddl = on")
        crm.execute("ALTER TABLE crm.customers ALTER COLUMN name SET DEFAULT 'n'")


def test_blind_index_for_equality_lookups(crm):
    prepare(crm, cols=("ssn", "email", "born"))  # without: no _bidx columns
    assert scalar(crm, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'crm.customers_encrypted'::regclass"
                       " AND attname LIKE '%_bidx'") == 0
    crm.execute("CREATE TABLE crm.people (id int PRIMARY KEY, email text, ssn text)")
    crm.execute("INSERT INTO crm.people VALUES (1, 'a@x.org', '1'), (2, 'b@x.org', '2'), (3, 'a@x.org', '3')")
    crm.execute("SELECT colcrypt.prepare('crm.people', ARRAY['email', 'ssn'], 'k', ARRAY['email'])")
    crm.execute("CALL colcrypt.backfill('crm.people')")
    crm.execute("INSERT INTO crm.people VALUES (4, 'a@x.org', '4')")
    cols = [r[0] for r in crm.execute("SELECT attname FROM pg_attribute WHERE attrelid ="
                                      " 'crm.people_encrypted'::regclass AND attnum > 0 ORDER BY attnum")]
    assert cols[:6] == ["id", "email", "ssn", "email_encrypted", "email_bidx", "ssn_encrypted"]
    hits = [r[0] for r in crm.execute("SELECT id FROM crm.people_encrypted WHERE email_bidx ="
                                      " colcrypt.blind_index('a@x.org', 'k', %s) ORDER BY id",
                                      (column_context(crm, "crm.people", "email"),))]
    assert hits == [1, 3, 4]
    assert scalar(crm, "SELECT count(DISTINCT email_bidx) FROM crm.people_encrypted") == 2
    assert scalar(crm, "SELECT octet_length(email_bidx) FROM crm.people_encrypted LIMIT 1") == 16
    assert scalar(crm, "SELECT count(*) FROM pg_indexes WHERE tablename = 'people_encrypted'"
                       " AND indexdef LIKE '%email_bidx%'") == 1
    assert scalar(crm, "SELECT passed FROM colcrypt.validate('crm.people')") is True
    with crm.transaction():  # a wrong token is caught by validation
        crm.execute("UPDATE crm.people_encrypted SET email_bidx = '\\x00' WHERE id = 2")
    assert crm.execute("SELECT mismatched, examples->'mismatched' FROM colcrypt.validate('crm.people')"
                       ).fetchone() == (1, ["2"])
    crm.execute("CREATE TABLE crm.other (id int PRIMARY KEY, x text, y text)")
    with raises_sqlstate("KC008", "not among the columns to encrypt"):
        crm.execute("SELECT colcrypt.prepare('crm.other', ARRAY['x'], 'k', ARRAY['y'])")


def test_the_shadow_gets_the_indexes_and_unique_constraints_without_encrypted_columns(crm):
    crm.execute("CREATE INDEX by_name ON crm.customers (name); CREATE INDEX by_lower ON crm.customers (lower(name))"
                " WHERE score > 1; CREATE INDEX by_ssn ON crm.customers (ssn);"
                " ALTER TABLE crm.customers ADD CONSTRAINT one_name UNIQUE (name) DEFERRABLE INITIALLY DEFERRED")
    prepare(crm)
    defs = sorted(r[0].split(" USING ", 1)[1] for r in crm.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'customers_encrypted'"))
    assert defs == ["btree (id)", "btree (lower(name)) WHERE (score > (1)::numeric)", "btree (name)", "btree (name)"]
    assert crm.execute("SELECT conname, condeferred FROM pg_constraint WHERE conrelid = 'crm.customers_encrypted'"
                       "::regclass AND contype = 'u'").fetchall() == [("one_name_encrypted", True)]
