"""`colcrypt demo` / `make demo`: encrypt, store and decrypt on a throwaway cluster.

For now this shows the foundation: an embedded cluster, the extension, a key wrapped by a KEK
file, a sample table encrypted column by column, decryption by a granted role (server-side
unwrapping) and by a client that loads the key itself, and the errors that protect the data.
"""

import time

import psycopg

import colcrypt
from colcrypt.cluster import throwaway
from colcrypt.install import install
from colcrypt.keys import create_key

CUSTOMERS = [
    (1, "Ada Lovelace", "ada@example.com", "123-45-6789", "1815-12-10"),
    (2, "Zoë Ångström", "zoe@example.internal", "078-05-1120", "1990-02-28"),
    (3, "Grace Hopper", "grace@navy.example", "219-09-9999", "1906-12-09"),
    (4, "李小龍", "bruce@example.hk", "457-55-5462", "1940-11-27"),
    (5, "No Email", None, "", "2000-01-01"),
]


def step(n: int, title: str) -> None:
    print(f"\n[{n}/7] {title}")


def run() -> None:
    started = time.monotonic()
    cluster = throwaway("colcrypt-demo-")
    try:
        _run(cluster)
    finally:
        cluster.destroy()
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s; the throwaway cluster is gone")


def _run(cluster) -> None:
    step(1, "embedded throwaway cluster")
    kek_file = cluster.init_with_local_kek()
    cluster.start()
    print(f"  PostgreSQL running in {cluster.data}, KEK file {kek_file} (0600, server account only)")

    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        step(2, "install the extension")
        print("  " + install(admin))

        step(3, "a data key, wrapped by the KEK; a role allowed to use it")
        info = create_key(admin, "demo-pii", kek_file=kek_file)
        admin.execute("CREATE ROLE app LOGIN")
        admin.execute("CREATE ROLE auditor LOGIN")
        admin.execute("SELECT colcrypt.grant_key('demo-pii', 'app')")
        print(f"  key {info['key_id']} v{info['version']} wrapped by {info['kek_ref']}; granted to role app")

        step(4, "a legacy table with plaintext PII, encrypted column by column")
        admin.execute("CREATE SCHEMA crm")
        admin.execute("CREATE TABLE crm.customers (id int PRIMARY KEY, name text, email text, ssn text, born date)")
        admin.cursor().executemany("INSERT INTO crm.customers VALUES (%s, %s, %s, %s, %s)", CUSTOMERS)
        admin.execute("GRANT USAGE ON SCHEMA crm TO app, auditor")
        admin.execute("""
            CREATE TABLE crm.customers_encrypted AS
            SELECT id, name,
                   colcrypt.encrypt_column(email, 'demo-pii', 'crm.customers.email') AS email_encrypted,
                   colcrypt.encrypt_column(ssn, 'demo-pii', 'crm.customers.ssn') AS ssn_encrypted,
                   colcrypt.encrypt_value(born, 'demo-pii', 'crm.customers.born') AS born_encrypted
            FROM crm.customers""")
        admin.execute("GRANT SELECT ON crm.customers_encrypted TO app, auditor")
        for row in admin.execute("SELECT id, name, ssn_encrypted FROM crm.customers_encrypted ORDER BY id"):
            ct = bytes(row[2])
            print(f"  {row[0]}  {row[1]:<14}  ssn_encrypted = \\x{ct[:12].hex()}…  ({len(ct)} bytes)")

    step(5, "role app reads it back (key unwrapped server-side on first use)")
    decrypt = """
        SELECT e.id, colcrypt.decrypt_column(e.email_encrypted, 'crm.customers.email'),
               colcrypt.decrypt_column(e.ssn_encrypted, 'crm.customers.ssn'),
               colcrypt.decrypt_value(e.born_encrypted, 'crm.customers.born', NULL::date)::text
        FROM crm.customers_encrypted e ORDER BY e.id"""
    with psycopg.connect(cluster.dsn(user="app"), autocommit=True) as app:
        rows = app.execute(decrypt).fetchall()
    for r in rows:
        print(f"  {r[0]}  email={r[1]!s:<22} ssn={r[2]!s:<12} born={r[3]}")
    expected = [(c[0], c[2], c[3], c[4]) for c in CUSTOMERS]
    print(f"  {sum(a == b for a, b in zip(rows, expected, strict=True))}/{len(CUSTOMERS)} rows equal the plaintext")

    step(6, "role auditor has no grant; it loads the key client-side instead")
    with psycopg.connect(cluster.dsn(user="auditor"), autocommit=True) as auditor:
        try:
            auditor.execute(decrypt)
        except psycopg.Error as e:
            print(f"  without a key: [{e.diag.sqlstate}] {e.diag.message_primary}")
    with colcrypt.connect(cluster.dsn(user="auditor"), keys=["demo-pii"], kek_file=kek_file,
                          autocommit=True) as auditor:
        n = len(auditor.execute(decrypt).fetchall())
        print(f"  with colcrypt.connect(..., keys=['demo-pii']): {n} rows decrypted;"
              " the key travelled sealed to this backend, never as SQL text")

    step(7, "what protects the data")
    with psycopg.connect(cluster.dsn(user="app"), autocommit=True) as app:
        for title, sql in [
            ("ssn read as if it were email", "SELECT colcrypt.decrypt_column(ssn_encrypted, 'crm.customers.email')"
             " FROM crm.customers_encrypted WHERE id = 1"),
            ("one flipped byte", "SELECT colcrypt.decrypt_column(set_byte(ssn_encrypted, 25,"
             " get_byte(ssn_encrypted, 25) # 1), 'crm.customers.ssn') FROM crm.customers_encrypted WHERE id = 1"),
        ]:
            try:
                app.execute(sql)
                raise SystemExit(f"demo: {title} was not detected")
            except psycopg.Error as e:
                print(f"  {title}: [{e.diag.sqlstate}] {e.diag.message_primary}")
