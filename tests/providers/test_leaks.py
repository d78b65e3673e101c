"""No key material across the whole life of HSM and KMS keys: create, grant, client-side loading,
server-side unwrapping, a pg_cron job, rewrap, rotate, re-encryption and destroy, with every statement
logged twice (log_statement = 'all' with bind parameters, and pgaudit with parameters) and
pg_stat_statements tracking everything. Searched: the server log, pg_stat_statements,
pg_stat_activity, cron.job and cron.job_run_details, pg_dump (every catalog and table) — for the
data keys, the HSM PIN and the KMS secret key, raw, hex, base64 and as escaped bytea."""

import subprocess

import psycopg

import colcrypt
from colcrypt.keys import create_key, rewrap_key, rotate_key, unwrap_client_side
from tests.db.test_leaks import _forms
from tests.providers.conftest import KMS_SECRET, PIN


def test_no_key_material_anywhere_with_hsm_and_kms_keys(db, conn, app_role, softhsm, kms, server_providers):
    conn.execute("CREATE EXTENSION IF NOT EXISTS pgaudit")
    deks = []
    create_key(conn, "leak-hsm", "pkcs11", kek=softhsm + "kek-1")
    create_key(conn, "leak-kms", "aws-kms", kek=kms["alias"])
    for key in ("leak-hsm", "leak-kms"):
        conn.execute("SELECT colcrypt.grant_key(%s, %s)", (key, app_role))
        deks += [d for _, d in unwrap_client_side(conn, key, None)]
    conn.execute("CREATE TABLE people (id int PRIMARY KEY, ssn text, note text); GRANT ALL ON people TO PUBLIC;"
                 " INSERT INTO people SELECT g, 'ssn-' || g, 'note ' || g FROM generate_series(1, 300) g;"
                 " SELECT colcrypt.prepare('people', ARRAY['ssn', 'note'], 'leak-hsm')")
    conn.execute("CALL colcrypt.backfill('people')")
    app_dsn = db.dsn.replace("user=postgres", f"user={app_role}")
    with psycopg.connect(app_dsn, autocommit=True) as app:  # server-side unwrapping, both providers
        for key in ("leak-hsm", "leak-kms"):
            assert app.execute("SELECT colcrypt.decrypt_column(colcrypt.encrypt_column('x', %s, 'c'), 'c')",
                               (key,)).fetchone() == ("x",)
    with colcrypt.connect(app_dsn, keys=["leak-hsm", "leak-kms"], autocommit=True) as app:  # client-side
        assert app.execute("SELECT count(*) FROM colcrypt.loaded_keys() WHERE source = 'session'").fetchone() == (2,)
        app.execute("DISCARD ALL")
        assert app.execute("SELECT count(*) FROM colcrypt.loaded_keys()").fetchone() == (0,)
    rewrap_key(conn, "leak-kms", "pkcs11", kek=softhsm + "kek-2")
    rotate_key(conn, "leak-hsm")
    deks += [d for v, d in unwrap_client_side(conn, "leak-hsm", None) if v == 2]
    conn.execute("CALL colcrypt.reencrypt('people')")
    assert conn.execute("SELECT passed FROM colcrypt.validate('people')").fetchone() == (True,)
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as su:  # pg_cron lives in 'postgres'
        su.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        job = su.execute("SELECT cron.schedule_in_database('leak-check', '0 0 31 2 *',"
                         " 'SELECT colcrypt.forget_keys()', %s)", (db.name,)).fetchone()[0]
        cron = "\n".join(str(r) for r in su.execute("SELECT * FROM cron.job").fetchall()
                         + su.execute("SELECT * FROM cron.job_run_details").fetchall())
        su.execute("SELECT cron.unschedule(%s)", (job,))
        activity = su.execute("SELECT string_agg(coalesce(query, ''), E'\\n') FROM pg_stat_activity").fetchone()[0]
        statements = su.execute("SELECT string_agg(query, E'\\n') FROM pg_stat_statements").fetchone()[0]
    dump = subprocess.run([str(db.cluster.bindir / "pg_dump"), "-d", db.dsn], capture_output=True,
                          check=True).stdout
    log = db.cluster.log_file.read_bytes()
    assert b"AUDIT: SESSION" in log and b"colcrypt.rewrap_key" in log  # pgaudit logged it all
    haystacks = {"server log": log, "pg_stat_statements": statements.encode(), "pg_stat_activity": activity.encode(),
                 "cron": cron.encode(), "pg_dump": dump}
    for name, secret in [("data key", d) for d in deks] + [("HSM PIN", PIN.encode()), ("KMS secret",
                                                                                         KMS_SECRET.encode())]:
        for where, text in haystacks.items():
            for form in _forms(secret) if name == "data key" else [secret]:
                assert form not in text, f"{name} found in {where}"
