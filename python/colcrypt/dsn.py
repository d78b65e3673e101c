"""Where to connect: --dsn, then DATABASE_URL or PG* variables, else the embedded cluster."""

import os
import sys

PG_ENV = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGHOSTADDR")


def resolve(dsn: str | None) -> str:
    if dsn is not None:
        return dsn
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if any(os.environ.get(v) for v in PG_ENV):
        return ""
    from colcrypt.cluster import embedded

    cluster = embedded()
    print(f"colcrypt: no --dsn given; using the embedded cluster at {cluster.root}", file=sys.stderr)
    return cluster.dsn()
