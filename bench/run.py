"""`make bench`: every benchmark on one throwaway cluster, each as ratios of operations measured side
by side in the same run. Prints a table per benchmark for people, then one JSON object with every
figure. BENCH_ONLY=cipher,discovery,migration,cutover picks benchmarks; BENCH_ROWS and BENCH_BIG_ROWS size them."""

import json
import os

import psycopg

from bench import cipher, cutover, discovery, migration
from colcrypt.cluster import throwaway
from colcrypt.install import install

SUITES = {"cipher": cipher.run, "discovery": discovery.run, "migration": migration.run, "cutover": cutover.run}


def main() -> None:
    chosen = [s for s in os.environ.get("BENCH_ONLY", ",".join(SUITES)).split(",") if s]
    unknown = set(chosen) - set(SUITES)
    if unknown:
        raise SystemExit(f"bench: unknown BENCH_ONLY entries {sorted(unknown)}; known: {', '.join(SUITES)}")
    cluster = throwaway("colcrypt-bench-")
    figures = {}
    try:
        cluster.kek_file = cluster.init_with_local_kek({"shared_buffers": "'1GB'", "max_wal_size": "'8GB'",
                                                "checkpoint_timeout": "'30min'"})
        cluster.start()
        for name in chosen:
            with psycopg.connect(cluster.dsn(), autocommit=True) as su:
                su.execute(f"CREATE DATABASE bench_{name}")
            with psycopg.connect(cluster.dsn(f"bench_{name}"), autocommit=True) as conn:
                install(conn)
                figures[name] = SUITES[name](conn, cluster)
    finally:
        cluster.destroy()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
