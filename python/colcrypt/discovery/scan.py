"""The in-database discovery scan, run by the PL/Python function colcrypt.discover().

Walks the catalog for user tables the caller may read (partitioned tables once, as the parent;
partitions, views, colcrypt's and other extensions' tables skipped), samples each table once for
all its candidate columns, classifies every column and stores the run and its findings.
"""

import json
import time

from colcrypt.discovery.classify import classify
from colcrypt.plpy_helpers import as_owner, fail, interval_seconds

COLUMNS_SQL = """
SELECT n.nspname AS schema_name, c.relname AS table_name, c.oid::pg_catalog.regclass::text AS rel,
       c.oid AS rel_oid, c.relkind::text AS relkind,
       coalesce(pg_catalog.pg_has_role(c.relowner, 'USAGE') AND pg_catalog.has_function_privilege(
           pg_catalog.to_regprocedure('colcrypt._as_owner(oid,text)'), 'EXECUTE'), false) AS as_owner,
       (SELECT coalesce(sum(CASE WHEN p.reltuples OPERATOR(pg_catalog.>=) 0 THEN p.reltuples
                                 ELSE pg_catalog.pg_relation_size(p.oid) OPERATOR(pg_catalog./)
                                      pg_catalog.current_setting('block_size')::int OPERATOR(pg_catalog.*) 60
                                 END), 0)::bigint  -- never analyzed: guess 60 rows a page; sampling adapts
        FROM (SELECT c.oid AS relid WHERE c.relkind OPERATOR(pg_catalog.<>) 'p'
              UNION ALL SELECT relid FROM pg_catalog.pg_partition_tree(c.oid)
              WHERE c.relkind OPERATOR(pg_catalog.=) 'p') t
        JOIN pg_catalog.pg_class p ON p.oid OPERATOR(pg_catalog.=) t.relid
        WHERE p.relkind OPERATOR(pg_catalog.<>) 'p') AS estimated_rows,
       a.attname AS column_name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       ty.typcategory::text AS category
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'colcrypt', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
  AND ($1::text[] IS NULL OR n.nspname OPERATOR(pg_catalog.=) ANY ($1))
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')
ORDER BY n.nspname, c.relname, a.attnum
"""

SCANNED_CATEGORIES = {"S", "N", "D", "U", "A", "I"}  # strings, numbers, dates, json (U), arrays, inet
SKIPPED_TYPES = {"real", "double precision", "money", "boolean", "uuid", "bytea", "oid", "interval",
                 "time without time zone", "time with time zone"}
SMALL_TABLE = 20000
SPARSE = 100  # fewer non-NULL values than this in the sample: look again, for non-NULLs only
SPARSE_WIDENING = 30  # the sparse pass reads this many times more pages than the first


def _text_expr(plpy, column: str, data_type: str) -> str:
    col = plpy.quote_ident(column)
    if data_type.endswith("[]"):
        return f"pg_catalog.to_jsonb({col})::text"
    if data_type == "inet":  # inet::text always adds the netmask (10.0.0.1/32)
        return f"pg_catalog.host({col})"
    return f"{col}::text"


def _read(plpy, t: dict, sql: str) -> list[dict]:
    """Rows of a sampling query on table t: as its owner when the caller may act as it (a superuser may),
    so that the owner's casts, types and policies never run with the DBA's rights; else as the caller."""
    return as_owner(plpy, t["oid"], sql) if t["as_owner"] else list(plpy.execute(sql))


def _tablesample(plpy, t: dict, select: str, percent: float, limit: int, where: str = "") -> list[dict]:
    return _read(plpy, t, f"SELECT {select} FROM {t['rel']} TABLESAMPLE SYSTEM ({percent:.4f}) REPEATABLE (42)"
                          f"{where} LIMIT {limit}")


def _sample(plpy, t: dict, exprs: list[str], estimated: int, sample_size: int) -> tuple[list[dict], float]:
    """About sample_size rows spread over the whole table, and the percent of pages read (100 for a
    small table read whole). Statistics can be stale or missing: when the sample comes back thin,
    read four times more pages, up to all of them."""
    select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
    if estimated <= SMALL_TABLE:
        return _read(plpy, t, f"SELECT {select} FROM {t['rel']} LIMIT {SMALL_TABLE}"), 100.0
    percent = min(100.0, max(0.001, 100.0 * 3 * sample_size / estimated))
    rows = _tablesample(plpy, t, select, percent, sample_size)
    while len(rows) < sample_size // 2 and percent < 100.0:
        percent = min(100.0, percent * 4)
        rows = _tablesample(plpy, t, select, percent, sample_size)
    return rows, percent


def _sparse(plpy, t: dict, expr: str, column: str, percent: float, sample_size: int) -> list:
    """The non-NULL values of a sparse column: the whole table when it is small, else a sample of
    SPARSE_WIDENING times more pages, so a column that is almost all NULL never costs a full scan."""
    where = f" WHERE {plpy.quote_ident(column)} IS NOT NULL"
    if percent >= 100.0:
        rows = _read(plpy, t, f"SELECT {expr} AS v FROM {t['rel']}{where} LIMIT {sample_size}")
    else:
        rows = _tablesample(plpy, t, f"{expr} AS v", min(100.0, percent * SPARSE_WIDENING), sample_size, where)
    return [r["v"] for r in rows]


def _table_columns(plpy, schemas):
    tables: dict[str, dict] = {}
    for row in plpy.execute(plpy.prepare(COLUMNS_SQL, ["text[]"]), [schemas]):
        t = tables.setdefault(row["rel"], {"schema": row["schema_name"], "table": row["table_name"],
                                           "rel": row["rel"], "oid": row["rel_oid"], "as_owner": row["as_owner"],
                                           "estimated_rows": row["estimated_rows"], "columns": []})
        if row["category"] in SCANNED_CATEGORIES and row["data_type"] not in SKIPPED_TYPES:
            t["columns"].append((row["column_name"], row["data_type"]))
    return tables


def discover(plpy, schemas: list[str] | None, sample_size: int | None, table_budget: str | None) -> list[dict]:
    """Scan, store the run and its findings, and return the findings. A table that has used up
    table_budget (an interval) is not sampled again for its sparse columns."""
    if sample_size is None or sample_size < 100:
        fail(plpy, "KC008", "sample size must be at least 100",
             "The default, 2000 values per column, bounds a ratio within about 2%.")
    table_budget_s = interval_seconds(plpy, table_budget)
    if table_budget_s is None or table_budget_s <= 0:
        fail(plpy, "KC008", "the per-table time budget must be positive",
             "Pass p_table_budget => '30 seconds' (the default) or more for very wide tables.")
    started_at = plpy.execute("SELECT pg_catalog.clock_timestamp()::text AS t")[0]["t"]
    findings, skipped = [], []
    for rel, t in _table_columns(plpy, schemas).items():
        if not t["columns"]:
            continue
        started = time.monotonic()
        try:
            with plpy.subtransaction():
                exprs = [_text_expr(plpy, c, ty) for c, ty in t["columns"]]
                rows, percent = _sample(plpy, t, exprs, t["estimated_rows"], sample_size)
                for i, (column, data_type) in enumerate(t["columns"]):
                    values = [r[f"c{i}"] for r in rows]
                    if sum(v is not None for v in values) < SPARSE and len(rows) >= SPARSE:
                        if time.monotonic() - started > table_budget_s:
                            skipped.append({"table": rel, "column": column,
                                            "error": "per-table time budget spent: sparse column not sampled again"})
                        else:
                            values = _sparse(plpy, t, exprs[i], column, percent, sample_size)
                    try:
                        f = classify(column, data_type, values)
                    except Exception as e:  # a classifier bug must not lose the rest of the run  # noqa: BLE001
                        # the type only: the message could quote a sampled value
                        skipped.append({"table": rel, "column": column,
                                        "error": f"classifier failed: {type(e).__name__}"})
                        continue
                    if f.classification is None:
                        continue
                    findings.append({"run_id": None, "schema_name": t["schema"], "table_name": t["table"],
                                     "column_name": column, "data_type": data_type,
                                     "classification": f.classification, "confidence": f.confidence,
                                     "match_ratio": f.match_ratio, "sample_size": f.sample_size,
                                     "estimated_rows": t["estimated_rows"], "match_kind": f.match_kind,
                                     "reason": json.dumps(f.reason)})
        except plpy.SPIError as e:
            skipped.append({"table": rel, "error": str(e).splitlines()[0]})
    return _record(plpy, schemas, sample_size, started_at, findings, skipped)


def _record(plpy, schemas, sample_size: int, started_at: str, findings: list[dict], skipped: list) -> list[dict]:
    """Store the run and its findings, in one go, for the roles that may write them (PUBLIC may not: a
    finding it could write would be one nobody found); for the others, say so and return them unstored."""
    if not plpy.execute("SELECT pg_catalog.has_table_privilege('colcrypt.discovery_runs', 'INSERT') AND"
                        " pg_catalog.has_table_privilege('colcrypt.discovery_findings', 'INSERT') AS ok")[0]["ok"]:
        plpy.notice("colcrypt: the findings are not stored in colcrypt.discovery_findings: this role may not write it",
                    hint="Run discover as a superuser, or GRANT INSERT ON colcrypt.discovery_runs, "
                         "colcrypt.discovery_findings and USAGE ON SEQUENCE colcrypt.discovery_runs_run_id_seq to it.")
        return findings
    run_id = plpy.execute(plpy.prepare(
        "INSERT INTO colcrypt.discovery_runs (schemas, sample_size, started_at, finished_at, skipped)"
        " VALUES ($1, $2, $3, pg_catalog.clock_timestamp(), $4::jsonb) RETURNING run_id",
        ["text[]", "int4", "timestamptz", "text"]),
        [schemas, sample_size, started_at, json.dumps(skipped)])[0]["run_id"]
    insert = plpy.prepare(
        "INSERT INTO colcrypt.discovery_findings (run_id, schema_name, table_name, column_name, data_type,"
        " classification, confidence, match_ratio, sample_size, estimated_rows, match_kind, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb) RETURNING *",
        ["int8", "text", "text", "text", "text", "text", "float8", "float8", "int4", "int8", "text", "text"])
    keys = ("schema_name", "table_name", "column_name", "data_type", "classification", "confidence", "match_ratio",
            "sample_size", "estimated_rows", "match_kind", "reason")
    return [plpy.execute(insert, [run_id, *(f[k] for k in keys)])[0] for f in findings]
