"""Migration bench, all side by side in one run (BENCH_ROWS rows, default 1M, 3 sensitive columns;
every time the best of BENCH_REPEAT runs, default 2):
- backfill time / a plain INSERT ... SELECT copy of the same rows into a table of the same shape
  (primary key included), the physical floor for a backfill; and the same copy into a table of
  the shadow's shape (values padded to an envelope's size), to show what the wider rows cost;
- the speed-up of 2 workers over 1;
- dual-write overhead: pgbench single-row UPDATE and INSERT TPS on a table with the triggers /
  the same on an identical table without, synchronous_commit = on;
- validation rows/s / backfill rows/s.
"""

import os
import re
import subprocess
import threading
import time

import psycopg

from colcrypt.keys import create_key

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
PGBENCH_SECONDS = int(os.environ.get("BENCH_PGBENCH_SECONDS", "15"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "2"))  # each timing is the best of this many runs
COLUMNS = "id bigint PRIMARY KEY, email text, ssn text, name text, created date"


def _table(conn, name: str, rows: int) -> None:
    conn.execute(f"CREATE TABLE {name} ({COLUMNS})")
    conn.execute(f"INSERT INTO {name} SELECT g, 'user' || g || '@example.com',"
                 f" lpad((g::bigint * 7919 % 1000000000)::text, 9, '0'), md5(g::text), DATE '2020-01-01' + g % 1000"
                 f" FROM generate_series(1, {rows}) g")
    conn.execute(f"VACUUM ANALYZE {name}")


def _timed(conn, sql: str) -> float:
    conn.execute("CHECKPOINT")
    t = time.perf_counter()
    conn.execute(sql)
    return time.perf_counter() - t


def _best_copy(conn, target: str, sql: str) -> float:
    """The fastest of REPEAT copies into an emptied target: the floor, with the machine's noise
    (checkpoints, other processes) taken out the same way as for the backfills."""
    times = []
    for _ in range(REPEAT):
        conn.execute(f"TRUNCATE {target}")
        times.append(_timed(conn, sql))
    return min(times)


def _backfill(conn, dsn: str, table: str, workers: int) -> float:
    conn.execute(f"SELECT colcrypt.prepare('{table}', ARRAY['email', 'ssn', 'name'], 'bench')")
    conn.execute("CHECKPOINT")

    def run(worker: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f"CALL colcrypt.backfill('{table}', p_batch_size => 5000, p_target_batch => '1 s',"
                      f" p_worker => {worker}, p_workers => {workers})")

    threads = [threading.Thread(target=run, args=(w,)) for w in range(1, workers + 1)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    state = conn.execute(f"SELECT state FROM colcrypt.migrations WHERE source = '{table}'::regclass").fetchone()[0]
    if state != "backfilled":
        raise SystemExit(f"bench: backfill of {table} ended in state {state}")
    return elapsed


def _pgbench(cluster, dbname: str, script: str, seconds: int, *flags: str) -> float:
    path = cluster.root / f"pgbench-{abs(hash(script))}.sql"
    path.write_text(script)
    cluster.give_to_server(path, 0o644)
    cmd = ["pgbench", "-n", *flags, "-h", str(cluster.root), "-p", str(cluster.port), "-U", "postgres", "-c", "2",
           "-j", "2", "-T", str(seconds), "-f", str(path), dbname]
    out = subprocess.run(cluster._cmd(*cmd), capture_output=True, text=True, cwd="/", check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def _dual_write(conn, cluster, dbname: str) -> dict:
    """TPS of single-row UPDATE and INSERT with and without the triggers, interleaved twice."""
    rows = min(ROWS, 100000)
    for name in ("dw_plain", "dw_migrated"):
        _table(conn, name, rows)
    conn.execute("SELECT colcrypt.prepare('dw_migrated', ARRAY['email', 'ssn', 'name'], 'bench')")
    conn.execute("CALL colcrypt.backfill('dw_migrated', p_batch_size => 5000)")
    conn.execute("CREATE SEQUENCE dw_ids START 10000000")
    update = "\\set id random(1, {rows})\nUPDATE {t} SET email = 'changed' || :id || '@example.com', " \
             "ssn = lpad((:id * 31)::text, 9, '0') WHERE id = :id;\n"
    insert = "INSERT INTO {t} VALUES (nextval('dw_ids'), 'new@example.com', '123456789', 'new', now());\n"
    tps = {k: [] for k in ("update_plain", "update_migrated", "insert_plain", "insert_migrated")}
    for _ in range(2):
        for kind, script in (("update", update), ("insert", insert)):
            for t in ("plain", "migrated"):
                tps[f"{kind}_{t}"].append(_pgbench(cluster, dbname, script.format(rows=rows, t=f"dw_{t}"),
                                                   PGBENCH_SECONDS))
    best = {k: max(v) for k, v in tps.items()}
    return {**{f"pgbench_{k}_tps": round(v, 1) for k, v in best.items()},
            "dual_write_update_tps_ratio": round(best["update_migrated"] / best["update_plain"], 3),
            "dual_write_insert_tps_ratio": round(best["insert_migrated"] / best["insert_plain"], 3)}


def run(conn, cluster) -> dict:
    create_key(conn, "bench", kek_file=cluster.kek_file)
    conn.execute("SELECT colcrypt.grant_key('bench', current_user)")
    dbname = conn.info.dbname
    dsn = cluster.dsn(dbname)
    print(f"bench migration: {ROWS:,} rows x 3 sensitive columns")
    sources = [f"src_{workers}_{i}" for workers in (1, 2) for i in range(REPEAT)]
    for name in sources:
        _table(conn, name, ROWS)
    conn.execute(f"CREATE TABLE copy_target ({COLUMNS})")
    copy_s = _best_copy(conn, "copy_target", f"INSERT INTO copy_target SELECT * FROM {sources[0]}")
    # The same rows in the shadow's shape, values padded to an envelope's size, nothing encrypted:
    # what the wider rows alone cost.
    conn.execute("CREATE TABLE shape_target (id bigint PRIMARY KEY, email bytea, ssn bytea, name bytea, created date,"
                 " encryption_key_id text, encryption_algorithm text, encrypted_at timestamptz,"
                 " migration_status text)")
    pad = "decode(repeat('00', 40), 'hex') || convert_to"
    shape_s = _best_copy(conn, "shape_target", f"INSERT INTO shape_target SELECT id, {pad}(email, 'UTF8'),"
                         f" {pad}(ssn, 'UTF8'), {pad}(name, 'UTF8'), created, 'bench', 'AES-256-GCM', now(),"
                         f" 'backfilled' FROM {sources[0]}")
    conn.execute("DROP TABLE copy_target, shape_target")
    one_s = min(_backfill(conn, dsn, f"src_1_{i}", 1) for i in range(REPEAT))
    two_s = min(_backfill(conn, dsn, f"src_2_{i}", 2) for i in range(REPEAT))
    conn.execute("CHECKPOINT")
    t = time.perf_counter()
    v = conn.execute(f"SELECT passed, total FROM colcrypt.validate('{sources[0]}')").fetchone()
    validate_s = time.perf_counter() - t
    if not v[0] or v[1] != ROWS:
        raise SystemExit(f"bench: validation of the backfill failed: {v}")
    print("bench migration: pgbench dual-write overhead")
    dw = _dual_write(conn, cluster, dbname)
    figures = {
        "rows": ROWS, "plain_copy_s": round(copy_s, 2), "shadow_shape_copy_s": round(shape_s, 2),
        "shadow_shape_copy_vs_plain_copy": round(shape_s / copy_s, 2),
        "backfill_vs_shadow_shape_copy": round(one_s / shape_s, 2), "backfill_1_worker_s": round(one_s, 2),
        "backfill_2_workers_s": round(two_s, 2), "validate_s": round(validate_s, 2),
        "backfill_vs_plain_copy": round(one_s / copy_s, 2), "speedup_2_workers": round(one_s / two_s, 2),
        "backfill_2_workers_vs_plain_copy": round(two_s / copy_s, 2),
        "backfill_rows_per_s": round(ROWS / one_s), "validate_rows_per_s": round(ROWS / validate_s),
        "validate_vs_backfill_rate": round(one_s / validate_s, 2), **dw,
    }
    print(f"\n{'migration':<52} {'value':>10}")
    for label, key in (("plain INSERT ... SELECT copy (s)", "plain_copy_s"),
                       ("backfill, 1 worker (s)", "backfill_1_worker_s"),
                       ("backfill / plain copy", "backfill_vs_plain_copy"),
                       ("copy in the shadow's shape, unencrypted (s)", "shadow_shape_copy_s"),
                       ("  that / plain copy (the wider rows alone)", "shadow_shape_copy_vs_plain_copy"),
                       ("backfill / that copy (encryption, locks, batches)", "backfill_vs_shadow_shape_copy"),
                       ("backfill, 2 workers (s)", "backfill_2_workers_s"),
                       ("speed-up with 2 workers", "speedup_2_workers"),
                       ("backfill, 2 workers / plain copy", "backfill_2_workers_vs_plain_copy"),
                       ("backfill rows/s", "backfill_rows_per_s"),
                       ("validation rows/s", "validate_rows_per_s"),
                       ("validation rate / backfill rate", "validate_vs_backfill_rate"),
                       ("pgbench UPDATE TPS, triggers / none", "dual_write_update_tps_ratio"),
                       ("pgbench INSERT TPS, triggers / none", "dual_write_insert_tps_ratio")):
        print(f"{label:<52} {figures[key]:>10}")
    print()
    return figures
