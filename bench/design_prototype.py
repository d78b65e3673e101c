"""The measurements behind docs/design/cutover.md, side by side in one run on one cluster:

- pgbench's built-in TPC-B-like script (scale 2, 4 clients) on three databases: plaintext tables;
  pgbench_accounts and pgbench_branches served by the 0.2 design (a view over the shadow, after
  colcrypt.cutover(.., 'reads') and 'writes'); and the same tables as tables with `filler`
  encrypted in place (design a: a logical column stored NULL, its envelope beside it, the planner
  hook and the encrypting trigger);
- primary-key lookups of four encrypted text columns (simple and prepared protocol) and single-row
  UPDATEs, plaintext table / view (0.2) / table with logical columns.

Run: .venv/bin/python -m bench.design_prototype   (BENCH_SECONDS, default 8)
"""

import os
import re
import subprocess

import psycopg

from colcrypt.cluster import throwaway
from colcrypt.install import install
from colcrypt.keys import create_key

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
# plaintext; design (d), 0.2's view, after the read and the write cutover; design (a) with a trigger, and with
# the table access method
DESIGNS = ("plain", "view_reads", "view_writes", "trigger", "table_am")
ROWS = 100000


def pgbench(cluster, dbname: str, *args: str) -> dict:
    cmd = ["pgbench", "-n", "-h", str(cluster.root), "-p", str(cluster.port), "-U", "postgres", *args, dbname]
    out = subprocess.run(cluster._cmd(*cmd), capture_output=True, text=True, cwd="/").stdout
    tps = re.search(r"tps = ([\d.]+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"tps": float(tps.group(1)) if tps else 0.0, "failed": int(failed.group(1)) if failed else -1}


def script(cluster, text: str) -> str:
    path = cluster.root / f"script-{abs(hash(text))}.sql"
    path.write_text(text)
    cluster.give_to_server(path, 0o644)
    return str(path)


def in_place(conn, table: str, key: str, columns: list[str], am: bool) -> None:
    """Design (a) built by hand: a fresh table with each column stored NULL and its envelope beside it,
    sealed by the access method colcrypt (am) or by the trigger colcrypt.encrypt_row."""
    def ctx(c):
        return f'"public"."{table}"."{c}"'
    names = [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum", (table,))]
    conn.execute(f"CREATE TABLE {table}_new (LIKE {table} INCLUDING ALL){' USING colcrypt' if am else ''}")
    conn.execute(f"ALTER TABLE {table}_new " + ", ".join(f"ADD COLUMN {c}_encrypted bytea" for c in columns))
    for c in columns:
        conn.execute("INSERT INTO colcrypt.encrypted_columns VALUES (%s, %s, %s, NULL, 'k', %s, %s)",
                     (f"{table}_new", c, c + "_encrypted", ctx(c), [key]))
    if not am:
        conn.execute(f"CREATE TRIGGER colcrypt_encrypt BEFORE INSERT OR UPDATE ON {table}_new"
                     " FOR EACH ROW EXECUTE FUNCTION colcrypt.encrypt_row()")
        conn.execute(f"ALTER TABLE {table}_new ENABLE ALWAYS TRIGGER colcrypt_encrypt")
    conn.execute(f"INSERT INTO {table}_new SELECT {', '.join(names)} FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    conn.execute(f"VACUUM ANALYZE {table}")


def view_design(conn, table: str, columns: list[str], stage: str) -> None:
    """Design (d), today's: colcrypt 0.2's own workflow up to the cutover stage."""
    conn.execute(f"SELECT colcrypt.prepare('{table}', %s, 'k')", (columns,))
    conn.execute(f"CALL colcrypt.backfill('{table}')")
    conn.execute(f"SELECT colcrypt.validate('{table}')")
    conn.execute(f"SELECT colcrypt.cutover('{table}', 'reads')")
    if stage == "writes":
        conn.execute(f"SELECT colcrypt.cutover('{table}', 'writes')")
    conn.execute(f"VACUUM ANALYZE {table}_encrypted")


def wide_table(conn, name: str) -> None:
    conn.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, email text, ssn text, phone text, name text,"
                 " balance integer NOT NULL DEFAULT 0)")
    conn.execute(f"INSERT INTO {name} SELECT i, 'user' || i || '@example.com', lpad((i * 7)::text, 9, '0'),"
                 f" '+1555' || lpad(i::text, 7, '0'), 'Name ' || i, 0 FROM generate_series(1, {ROWS}) i")
    conn.execute(f"VACUUM ANALYZE {name}")


def main() -> None:
    cluster = throwaway("colcrypt-design-")
    cluster.kek_file = cluster.init_with_local_kek({"shared_preload_libraries": "'colcrypt'",
                                                    "max_connections": "50"})
    cluster.start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            for db in DESIGNS:
                conn.execute(f"CREATE DATABASE {db}")
        for db in DESIGNS:
            subprocess.run(cluster._cmd("pgbench", "-i", "-q", "-s", "2", "-h", str(cluster.root), "-p",
                                        str(cluster.port), "-U", "postgres", db),
                           capture_output=True, check=True, cwd="/")
            with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
                install(conn)
                create_key(conn, "k", kek_file=cluster.kek_file)
                conn.execute("SELECT colcrypt.grant_key('k', 'postgres')")
                wide_table(conn, "wide")
                if db.startswith("view"):
                    for t in ("pgbench_accounts", "pgbench_branches"):
                        view_design(conn, t, ["filler"], db.split("_")[1])
                    view_design(conn, "wide", ["email", "ssn", "phone", "name"], db.split("_")[1])
                elif db in ("trigger", "table_am"):
                    in_place(conn, "pgbench_accounts", "aid", ["filler"], db == "table_am")
                    in_place(conn, "pgbench_branches", "bid", ["filler"], db == "table_am")
                    in_place(conn, "wide", "id", ["email", "ssn", "phone", "name"], db == "table_am")
                conn.execute("CHECKPOINT")
        lookup = script(cluster, f"\\set id random(1, {ROWS})\nSELECT * FROM wide WHERE id = :id;\n")
        update = script(cluster, f"\\set id random(1, {ROWS})\nUPDATE wide SET balance = balance + 1"
                                 " WHERE id = :id;\n")
        update_enc = script(cluster, f"\\set id random(1, {ROWS})\nUPDATE wide SET email = 'u' || :id ||"
                                     " '@example.org' WHERE id = :id;\n")
        runs = {
            "tpcb": ["-b", "tpcb-like", "-c", "4", "-j", "2", "--max-tries", "1", "--failures-detailed"],
            "pk_lookup_simple": ["-f", lookup, "-c", "2", "-j", "2"],
            "pk_lookup_prepared": ["-f", lookup, "-c", "2", "-j", "2", "-M", "prepared"],
            "update_other_column": ["-f", update, "-c", "2", "-j", "2"],
            "update_encrypted_column": ["-f", update_enc, "-c", "2", "-j", "2"],
        }
        results = {}
        for name, args in runs.items():
            best = {}
            for _ in range(2):
                for db in DESIGNS:
                    r = pgbench(cluster, db, "-T", str(SECONDS), *args)
                    if db not in best or r["tps"] > best[db]["tps"]:
                        best[db] = r
            results[name] = best
        print(f"{'run':26} {'design':12} {'TPS':>9} {'÷ plain':>8} {'failed':>7}")
        for name, best in results.items():
            for db, r in best.items():
                print(f"{name:26} {db:12} {r['tps']:9.0f} {r['tps'] / best['plain']['tps']:8.2f} {r['failed']:7}")
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
