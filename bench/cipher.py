"""Cipher bench: encryption and decryption of 3 columns x N rows (default 1M), as ratios to a
plain INSERT ... SELECT copy of the same rows and to pgcrypto, measured side by side in one run.

Each operation runs REPEATS times, interleaved, after a CHECKPOINT; the median counts.
"""

import os
import statistics
import time

from colcrypt.keys import create_key

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
PGCRYPTO_KEY = "decode(repeat('ab', 32), 'hex')"  # benchmark-only inline key: what pgcrypto users do
PGCRYPTO_IV = "decode(repeat('cd', 16), 'hex')"

SETUP = f"""
CREATE TABLE src AS
SELECT g AS id,
       'user' || g || '@example.com' AS email,
       lpad((g::bigint * 7919 % 1000000000)::text, 9, '0') AS ssn,
       md5(g::text) AS name
FROM generate_series(1, {ROWS}) g;
CREATE TABLE plain_copy (id int, email text, ssn text, name text);
CREATE TABLE colcrypt_enc (id int, email bytea, ssn bytea, name bytea);
CREATE TABLE colcrypt_enc_openssl (id int, email bytea, ssn bytea, name bytea);
CREATE TABLE pgcrypto_enc (id int, email bytea, ssn bytea, name bytea);
CREATE TABLE colcrypt_dec (id int, email text, ssn text, name text);
CREATE TABLE pgcrypto_dec (id int, email text, ssn text, name text);
"""

OPS = {
    "plain_copy": "INSERT INTO plain_copy SELECT id, email, ssn, name FROM src",
    "colcrypt_encrypt": """INSERT INTO colcrypt_enc SELECT id,
        colcrypt.encrypt_column(email, 'bench', 'src.email'),
        colcrypt.encrypt_column(ssn, 'bench', 'src.ssn'),
        colcrypt.encrypt_column(name, 'bench', 'src.name') FROM src""",
    "colcrypt_encrypt_openssl": """BEGIN; SET LOCAL colcrypt.aead_engine = 'openssl';
        INSERT INTO colcrypt_enc_openssl SELECT id,
        colcrypt.encrypt_column(email, 'bench', 'src.email'),
        colcrypt.encrypt_column(ssn, 'bench', 'src.ssn'),
        colcrypt.encrypt_column(name, 'bench', 'src.name') FROM src; COMMIT""",
    "pgcrypto_encrypt": f"""INSERT INTO pgcrypto_enc SELECT id,
        encrypt_iv(convert_to(email, 'UTF8'), {PGCRYPTO_KEY}, {PGCRYPTO_IV}, 'aes'),
        encrypt_iv(convert_to(ssn, 'UTF8'), {PGCRYPTO_KEY}, {PGCRYPTO_IV}, 'aes'),
        encrypt_iv(convert_to(name, 'UTF8'), {PGCRYPTO_KEY}, {PGCRYPTO_IV}, 'aes') FROM src""",
    "colcrypt_decrypt": """INSERT INTO colcrypt_dec SELECT id,
        colcrypt.decrypt_column(email, 'src.email'),
        colcrypt.decrypt_column(ssn, 'src.ssn'),
        colcrypt.decrypt_column(name, 'src.name') FROM colcrypt_enc""",
    "pgcrypto_decrypt": f"""INSERT INTO pgcrypto_dec SELECT id,
        convert_from(decrypt_iv(email, {PGCRYPTO_KEY}, {PGCRYPTO_IV}, 'aes'), 'UTF8'),
        convert_from(decrypt_iv(ssn, {PGCRYPTO_KEY}, {PGCRYPTO_IV}, 'aes'), 'UTF8'),
        convert_from(decrypt_iv(name, {PGCRYPTO_KEY}, {PGCRYPTO_IV}, 'aes'), 'UTF8') FROM pgcrypto_enc""",
}
TARGET = {"plain_copy": "plain_copy", "colcrypt_encrypt": "colcrypt_enc", "pgcrypto_encrypt": "pgcrypto_enc",
          "colcrypt_encrypt_openssl": "colcrypt_enc_openssl",
          "colcrypt_decrypt": "colcrypt_dec", "pgcrypto_decrypt": "pgcrypto_dec"}


def measure(conn) -> dict[str, float]:
    times: dict[str, list[float]] = {op: [] for op in OPS}
    for _ in range(REPEATS):
        for op, sql in OPS.items():  # in order: each decryption reads this round's encryptions
            conn.execute(f"TRUNCATE {TARGET[op]}")
            conn.execute("CHECKPOINT")
            t = time.perf_counter()
            conn.execute(sql)
            times[op].append(time.perf_counter() - t)
    return {op: statistics.median(ts) for op, ts in times.items()}


def check(conn) -> None:
    bad = conn.execute("SELECT count(*) FROM src s JOIN colcrypt_dec d USING (id)"
                       " WHERE (s.email, s.ssn, s.name) IS DISTINCT FROM (d.email, d.ssn, d.name)").fetchone()[0]
    n = conn.execute("SELECT count(*) FROM colcrypt_dec").fetchone()[0]
    if bad or n != ROWS:
        raise SystemExit(f"bench: decrypted rows differ from the source ({bad} differ, {n} of {ROWS})")


def run(conn, cluster) -> dict:
    create_key(conn, "bench", kek_file=cluster.kek_file)
    conn.execute("SELECT colcrypt.grant_key('bench', current_user)")
    print(f"bench cipher: {ROWS:,} rows x 3 text columns, median of {REPEATS} interleaved runs")
    conn.execute(SETUP)
    conn.execute("VACUUM ANALYZE src")
    t = measure(conn)
    check(conn)
    conn.execute("DROP TABLE src, plain_copy, colcrypt_enc, colcrypt_enc_openssl, pgcrypto_enc, colcrypt_dec,"
                 " pgcrypto_dec")

    values = 3 * ROWS
    figures = {
        "rows": ROWS, "columns": 3, "repeats": REPEATS,
        **{f"{op}_s": round(s, 3) for op, s in t.items()},
        "encrypt_vs_plain_copy": round(t["colcrypt_encrypt"] / t["plain_copy"], 2),
        "decrypt_vs_plain_copy": round(t["colcrypt_decrypt"] / t["plain_copy"], 2),
        "encrypt_openssl_engine_vs_plain_copy": round(t["colcrypt_encrypt_openssl"] / t["plain_copy"], 2),
        "encrypt_vs_pgcrypto_encrypt_iv": round(t["colcrypt_encrypt"] / t["pgcrypto_encrypt"], 2),
        "decrypt_vs_pgcrypto_decrypt_iv": round(t["colcrypt_decrypt"] / t["pgcrypto_decrypt"], 2),
        "pgcrypto_encrypt_vs_plain_copy": round(t["pgcrypto_encrypt"] / t["plain_copy"], 2),
        "encrypt_us_per_value_over_copy": round((t["colcrypt_encrypt"] - t["plain_copy"]) / values * 1e6, 3),
        "decrypt_us_per_value_over_copy": round((t["colcrypt_decrypt"] - t["plain_copy"]) / values * 1e6, 3),
    }
    print()
    print(f"{'operation':<46} {'seconds':>8} {'x plain copy':>13}")
    labels = {
        "plain_copy": "plain INSERT ... SELECT copy",
        "colcrypt_encrypt": "colcrypt AES-256-GCM encrypt (envelope, AAD)",
        "colcrypt_encrypt_openssl": "  the same on the OpenSSL EVP engine",
        "pgcrypto_encrypt": "pgcrypto encrypt_iv AES-CBC (no MAC)",
        "colcrypt_decrypt": "colcrypt decrypt (authenticated)",
        "pgcrypto_decrypt": "pgcrypto decrypt_iv AES-CBC",
    }
    for op, label in labels.items():
        print(f"{label:<46} {t[op]:>8.2f} {t[op] / t['plain_copy']:>13.2f}")
    print(f"\ncolcrypt encrypt / pgcrypto encrypt_iv: {figures['encrypt_vs_pgcrypto_encrypt_iv']:.2f}"
          f"   cost per value over the copy: {figures['encrypt_us_per_value_over_copy']:.3f} us\n")
    return figures
