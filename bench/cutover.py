"""Cutover bench, side by side in one run (BENCH_CUTOVER_ROWS rows, default 100k, 3 sensitive columns):
- pgbench primary-key lookups, the same SQL text, through the migrated name (a view decrypting the
  shadow) / on a plaintext table of the same rows, with the simple and the prepared protocol;
- pgbench single-row UPDATE and INSERT TPS through the name after the read cutover, after the
  write cutover and after finalize / on the plaintext table without any migration;
- the worst statement latency an application sees while the name is switched (cutover reads,
  writes, finalize, then rollback from finalized) under a load of single-row reads and updates,
  per switch, and the number of failed statements.
"""

import os
import threading
import time

import psycopg

from bench.migration import PGBENCH_SECONDS, _pgbench, _table
from colcrypt.keys import create_key

ROWS = int(os.environ.get("BENCH_CUTOVER_ROWS", "100000"))
LOOKUP = "\\set id random(1, {rows})\nSELECT * FROM {t} WHERE id = :id;\n"
UPDATE = "\\set id random(1, {rows})\nUPDATE {t} SET email = 'changed' || :id || '@example.com' WHERE id = :id;\n"
INSERT = "INSERT INTO {t} (id, email, ssn, name, created) VALUES (nextval('ids'), 'new@example.com', '123456789'," \
         " 'new', now());\n"


def _migrate(conn, table: str) -> None:
    conn.execute(f"SELECT colcrypt.prepare('{table}', ARRAY['email', 'ssn', 'name'], 'bench')")
    conn.execute(f"CALL colcrypt.backfill('{table}')")
    conn.execute(f"SELECT colcrypt.validate('{table}')")


def _ratios(cluster, dbname: str, script: str, plain: str, migrated: str, *flags: str) -> tuple[float, float, float]:
    """Best TPS of two interleaved runs each: (plain, migrated, migrated / plain)."""
    runs = {plain: [], migrated: []}
    for _ in range(2):
        for t in (plain, migrated):
            runs[t].append(_pgbench(cluster, dbname, script.format(rows=ROWS, t=t), PGBENCH_SECONDS, *flags))
    p, m = max(runs[plain]), max(runs[migrated])
    return round(p, 1), round(m, 1), round(m / p, 3)


SWITCHES = (("reads", "SELECT * FROM colcrypt.cutover('{t}', 'reads')"),
            ("writes", "SELECT * FROM colcrypt.cutover('{t}', 'writes')"),
            ("finalize", "SELECT * FROM colcrypt.finalize('{t}')"),
            ("rollback from finalized", "SELECT * FROM colcrypt.rollback('{t}')"))


def _stall(dsn: str, table: str) -> dict:
    """Single-row reads and updates on disjoint rows by two sessions while the name is switched and
    switched back; the worst latency of a statement that overlapped each switch, and every failure."""
    stop, lat, failures, windows = threading.Event(), [], [], []

    def load(worker: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            i = worker
            while not stop.is_set():
                i = (i + 2) % ROWS or 2
                for sql in (f"SELECT * FROM {table} WHERE id = %s", f"UPDATE {table} SET name = 'x' WHERE id = %s"):
                    t0 = time.perf_counter()
                    try:
                        c.execute(sql, (i,))
                    except psycopg.Error as e:
                        failures.append(f"{e.diag.sqlstate}: {e}")
                    lat.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=load, args=(w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        with psycopg.connect(dsn, autocommit=True) as c:
            for name, sql in SWITCHES:
                t0 = time.perf_counter()
                c.execute(sql.format(t=table))
                windows.append((name, t0, time.perf_counter()))
                time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    worst = {name: round(1000 * max((e - s for s, e in lat if s <= we and e >= ws), default=0), 1)
             for name, ws, we in windows}
    during = [e - s for s, e in lat if any(s <= we and e >= ws for _, ws, we in windows)]
    normal = sorted(e - s for s, e in lat)
    return {"switch_worst_stall_ms": max(worst.values()), "switch_worst_stall_ms_each": worst,
            "switch_statements_overlapping": len(during),
            "load_p99_ms": round(1000 * normal[int(len(normal) * 0.99)], 2),
            "switch_failed_statements": len(failures), "switch_failures": failures[:3]}


def run(conn, cluster) -> dict:
    create_key(conn, "bench", kek_file=cluster.kek_file)
    conn.execute("SELECT colcrypt.grant_key('bench', current_user)")
    dbname = conn.info.dbname
    print(f"bench cutover: {ROWS:,} rows x 3 sensitive columns")
    for name in ("pk_plain", "pk_migrated", "sw_migrated"):
        _table(conn, name, ROWS)
    conn.execute("CREATE SEQUENCE ids START 100000000")
    _migrate(conn, "pk_migrated")
    conn.execute("SELECT colcrypt.cutover('pk_migrated', 'reads')")
    conn.execute("VACUUM ANALYZE pk_migrated_encrypted")
    lookup = _ratios(cluster, dbname, LOOKUP, "pk_plain", "pk_migrated")
    prepared = _ratios(cluster, dbname, LOOKUP, "pk_plain", "pk_migrated", "-M", "prepared")
    update = _ratios(cluster, dbname, UPDATE, "pk_plain", "pk_migrated")
    insert = _ratios(cluster, dbname, INSERT, "pk_plain", "pk_migrated")
    conn.execute("SELECT colcrypt.cutover('pk_migrated', 'writes')")
    update_w = _ratios(cluster, dbname, UPDATE, "pk_plain", "pk_migrated")
    insert_w = _ratios(cluster, dbname, INSERT, "pk_plain", "pk_migrated")
    conn.execute("SELECT colcrypt.finalize('pk_migrated')")
    update_f = _ratios(cluster, dbname, UPDATE, "pk_plain", "pk_migrated")
    insert_f = _ratios(cluster, dbname, INSERT, "pk_plain", "pk_migrated")
    _migrate(conn, "sw_migrated")
    stall = _stall(cluster.dsn(dbname), "sw_migrated")
    figures = {
        "rows": ROWS, "pk_lookup_plain_tps": lookup[0], "pk_lookup_name_tps": lookup[1], "pk_lookup_ratio": lookup[2],
        "pk_lookup_prepared_plain_tps": prepared[0], "pk_lookup_prepared_name_tps": prepared[1],
        "pk_lookup_prepared_ratio": prepared[2],
        "update_plain_tps": update[0], "update_after_reads_cutover_tps": update[1], "update_ratio": update[2],
        "insert_plain_tps": insert[0], "insert_after_reads_cutover_tps": insert[1], "insert_ratio": insert[2],
        "update_after_writes_cutover_tps": update_w[1], "update_writes_ratio": update_w[2],
        "insert_after_writes_cutover_tps": insert_w[1], "insert_writes_ratio": insert_w[2],
        "update_after_finalize_tps": update_f[1], "update_finalized_ratio": update_f[2],
        "insert_after_finalize_tps": insert_f[1], "insert_finalized_ratio": insert_f[2],
        "update_writes_vs_reads_stage": round(update_w[1] / update[1], 3),
        "insert_writes_vs_reads_stage": round(insert_w[1] / insert[1], 3),
        **stall,
    }
    print(f"\n{'cutover':<60} {'value':>10}")
    for label, key in (("pgbench PK lookup TPS, through the name / plaintext table", "pk_lookup_ratio"),
                       ("  the same with -M prepared", "pk_lookup_prepared_ratio"),
                       ("pgbench UPDATE TPS after the read cutover / plaintext table", "update_ratio"),
                       ("pgbench INSERT TPS after the read cutover / plaintext table", "insert_ratio"),
                       ("pgbench UPDATE TPS after the write cutover / plaintext table", "update_writes_ratio"),
                       ("pgbench INSERT TPS after the write cutover / plaintext table", "insert_writes_ratio"),
                       ("pgbench UPDATE TPS after finalize / plaintext table", "update_finalized_ratio"),
                       ("pgbench INSERT TPS after finalize / plaintext table", "insert_finalized_ratio"),
                       ("  UPDATE TPS, write cutover / read cutover", "update_writes_vs_reads_stage"),
                       ("  INSERT TPS, write cutover / read cutover", "insert_writes_vs_reads_stage"),
                       ("worst statement latency during a switch (ms)", "switch_worst_stall_ms"),
                       *((f"  during {name}", ("each", name)) for name, _ in SWITCHES),
                       ("statements that overlapped a switch", "switch_statements_overlapping"),
                       ("p99 statement latency of that load (ms)", "load_p99_ms"),
                       ("failed application statements", "switch_failed_statements")):
        value = figures["switch_worst_stall_ms_each"][key[1]] if isinstance(key, tuple) else figures[key]
        print(f"{label:<60} {value:>10}")
    print()
    return figures
