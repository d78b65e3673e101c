"""colcrypt.discover() on a small legacy-style database: quoted mixed-case names, a composite key,
a partitioned table, jsonb, identifiers in numeric columns, decoys, an empty table and a view."""

import json

import psycopg
import pytest

from tests.db.helpers import raises_sqlstate, scalar

LEGACY = """
CREATE SCHEMA "Legacy CRM";
CREATE TABLE "Legacy CRM"."Customers" (
    "CustomerID" int, region int, "SSN" text, "eMail" text, "Phone No" text, card_last4 text,
    email_verified boolean, passport_type text, signup date, "DateOfBirth" date, notes text, profile jsonb,
    order_number bigint, zip text, PRIMARY KEY ("CustomerID", region));
INSERT INTO "Legacy CRM"."Customers"
SELECT g, g % 7,
       lpad((g % 660 + 1)::text, 3, '0') || '-' || lpad((g % 98 + 1)::text, 2, '0') || '-'
           || lpad((g % 9998 + 1)::text, 4, '0'),
       'user' || g || '@corp.internal', '+1 415 555 ' || lpad((g % 10000)::text, 4, '0'),
       lpad((g % 10000)::text, 4, '0'), g % 2 = 0, 'regular', DATE '2020-01-01' + g % 300,
       DATE '1950-01-01' + g % 20000,
       CASE WHEN g % 50 = 0 THEN 'wrote from jane' || g || '@example.org' ELSE 'no contact' END,
       jsonb_build_object('billing', jsonb_build_object('iban', 'DE89370400440532013000'), 'n', g),
       1000000000000000 + g * 7919, lpad((g % 90000 + 10000)::text, 5, '0') || '-1234'
FROM generate_series(1, 3000) g;
CREATE TABLE "Legacy CRM".events (id bigint, client_ip text, happened date) PARTITION BY RANGE (happened);
CREATE TABLE "Legacy CRM".events_2023 PARTITION OF "Legacy CRM".events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE "Legacy CRM".events_2024 PARTITION OF "Legacy CRM".events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO "Legacy CRM".events SELECT g, '10.0.' || (g % 250) || '.' || (g % 200), DATE '2023-06-01' + g % 400
FROM generate_series(1, 2000) g;
CREATE TABLE "Legacy CRM".payments (id int PRIMARY KEY, ssn_number bigint, pan text);
INSERT INTO "Legacy CRM".payments VALUES (1, 1010001, NULL);
CREATE TABLE "Legacy CRM".empty_people (id int, customer_email text);
CREATE VIEW "Legacy CRM".customer_view AS SELECT "eMail" FROM "Legacy CRM"."Customers";
ANALYZE;
"""

EXPECTED = {
    ("Customers", "SSN"): "ssn", ("Customers", "eMail"): "email", ("Customers", "Phone No"): "phone",
    ("Customers", "DateOfBirth"): "date_of_birth", ("Customers", "notes"): "email",
    ("Customers", "profile"): "iban", ("events", "client_ip"): "ip_address",
    ("empty_people", "customer_email"): "email",
    ("payments", "ssn_number"): "ssn",  # an integer that lost its leading zeros, named as such
    ("payments", "pan"): "credit_card",  # no values yet: a candidate by name
}


@pytest.fixture
def legacy(conn):
    conn.execute(LEGACY)
    return conn


def test_discover_finds_what_is_there_and_nothing_else(legacy):
    rows = legacy.execute("SELECT table_name, column_name, classification, confidence, match_kind, reason,"
                          " sample_size FROM colcrypt.discover(ARRAY['Legacy CRM'])").fetchall()
    found = {(r[0], r[1]): r[2] for r in rows}
    assert found == EXPECTED
    by_key = {(r[0], r[1]): r for r in rows}
    assert by_key[("Customers", "notes")][4] == "embedded"
    assert by_key[("empty_people", "customer_email")][4] == "name"
    assert all(0 < r[3] <= 1 for r in rows)
    for r in rows:  # reasons carry masked examples, never real values
        for example in r[5].get("examples", []):
            assert "*" in example
    assert "events_2023" not in {r[0] for r in rows}  # partitions reported once, as the parent


def test_discover_stores_the_run(legacy):
    legacy.execute("SELECT * FROM colcrypt.discover(ARRAY['Legacy CRM'])")
    run = legacy.execute("SELECT run_id, finished_at IS NOT NULL, skipped FROM colcrypt.discovery_runs").fetchone()
    assert run[1] is True and run[2] == []
    assert scalar(legacy, "SELECT count(*) FROM colcrypt.discovery_findings WHERE run_id = %s", (run[0],)) == \
        len(EXPECTED)
    assert json.dumps(run[2]) == "[]"


def test_only_roles_that_may_write_the_findings_store_them(db, legacy, roles):
    """0.2.0 let PUBLIC insert and update the discovery tables: anyone could forge a finding, or edit a run."""
    legacy.execute(f'GRANT USAGE ON SCHEMA "Legacy CRM" TO "{roles.app}";'
                   f' GRANT SELECT ON ALL TABLES IN SCHEMA "Legacy CRM" TO "{roles.app}"')
    legacy.execute("SELECT * FROM colcrypt.discover(ARRAY['Legacy CRM'])")  # stored: a superuser
    with roles.connect(roles.app) as app:
        notices = []
        app.add_notice_handler(lambda d: notices.append(d.message_primary))
        found = app.execute("SELECT run_id, column_name FROM colcrypt.discover(ARRAY['Legacy CRM'])").fetchall()
        assert len(found) == len(EXPECTED) and {r[0] for r in found} == {None}  # found, not stored
        assert any("not stored" in n for n in notices)
        assert scalar(app, "SELECT count(*) FROM colcrypt.discovery_findings") == len(EXPECTED)  # it may read them
        for sql in ("INSERT INTO colcrypt.discovery_runs (sample_size) VALUES (100)",
                    "UPDATE colcrypt.discovery_runs SET skipped = '[]'",
                    "INSERT INTO colcrypt.discovery_findings SELECT * FROM colcrypt.discovery_findings LIMIT 1"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)
    assert scalar(legacy, "SELECT count(*) FROM colcrypt.discovery_runs") == 1


def test_discover_rejects_a_tiny_sample_or_budget(conn):
    with raises_sqlstate("KC008", "sample size"):
        conn.execute("SELECT * FROM colcrypt.discover(NULL, 5)")
    with raises_sqlstate("KC008", "time budget must be positive"):
        conn.execute("SELECT * FROM colcrypt.discover(NULL, 2000, '0 s')")
    assert scalar(conn, "SELECT count(*) FROM colcrypt.discovery_runs") == 0


BIG = """
CREATE SCHEMA big;
CREATE TABLE big.accounts (id bigint PRIMARY KEY, contact text, alt_email text, padding text);
INSERT INTO big.accounts SELECT g, 'user' || g || '@example.com',
       CASE WHEN g % 500 = 0 THEN 'alt' || g || '@example.net' END, repeat('x', 100)
FROM generate_series(1, 200000) g;
CREATE MATERIALIZED VIEW big.contacts AS SELECT id, contact AS mail FROM big.accounts WHERE id <= 50000;
"""


def test_unanalyzed_large_tables_are_sampled_and_sparse_columns_found(conn):
    conn.execute(BIG)  # no ANALYZE: reltuples is -1, the size of the table is the guide
    assert scalar(conn, "SELECT reltuples FROM pg_class WHERE oid = 'big.accounts'::regclass") == -1
    rows = conn.execute("SELECT table_name, column_name, classification, sample_size, estimated_rows"
                        " FROM colcrypt.discover(ARRAY['big'])").fetchall()
    found = {(r[0], r[1]): r for r in rows}
    assert {k: r[2] for k, r in found.items()} == {("accounts", "contact"): "email", ("accounts", "alt_email"): "email",
                                                    ("contacts", "mail"): "email"}
    contact = found[("accounts", "contact")]
    assert 1000 <= contact[3] <= 2000 and contact[4] > 20000  # sampled, not read whole
    assert found[("accounts", "alt_email")][3] >= 100  # 1 in 500 rows: found by the second, wider pass


def test_a_table_past_its_budget_is_not_sampled_again(conn):
    conn.execute(BIG + "ANALYZE big.accounts;")
    conn.execute("SELECT * FROM colcrypt.discover(ARRAY['big'], 2000, '1 microsecond')")
    skipped = scalar(conn, "SELECT skipped FROM colcrypt.discovery_runs")
    assert skipped == [{"table": "big.accounts", "column": "alt_email",
                        "error": "per-table time budget spent: sparse column not sampled again"}]


def test_cli_formats(db, legacy, capsys):
    from colcrypt.cli import main

    assert main(["discover", "--dsn", db.dsn, "--schema", "Legacy CRM", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["table"], r["column"]): r["classification"] for r in rows} == EXPECTED
    assert {"schema", "table", "column", "data_type", "classification", "confidence", "match_ratio",
            "sample_size", "reason"} <= set(rows[0])
    assert main(["discover", "--dsn", db.dsn, "--schema", "Legacy CRM", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("schema,table,column,data_type,classification") and len(lines) == 1 + len(EXPECTED)
    assert main(["discover", "--dsn", db.dsn, "--schema", "Legacy CRM"]) == 0
    assert f"{len(EXPECTED)} sensitive column(s)" in capsys.readouterr().out
