"""The table's indexes and unique or exclusion constraints that involve no encrypted column, made
again on the shadow at prepare time (while it is empty, so at no cost), so that queries through
the name after the cutover find the same indexes, and the shadow can enforce the same uniqueness
once it becomes the table of record. Each index is built from the catalog's parts (access method,
columns or the server's rendering of each expression, collations, operator classes, orderings,
INCLUDE, predicate, storage options), never from the text of its definition: the index's name
is the table owner's to choose and may hold any text."""

from colcrypt.migrate.sqlgen import Plan, ident, literal

INDEXES_SQL = """
SELECT i.indexrelid, i.indisunique AS is_unique, i.indnullsnotdistinct AS nulls_not_distinct,
       am.amname::text AS method, i.indnkeyatts AS key_count,
       ARRAY(SELECT CASE WHEN k.n = 0 THEN NULL ELSE a.attname::text END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, o::int, false)
             FROM generate_series(1, i.indnatts) AS o) AS rendered,
       ARRAY(SELECT CASE WHEN c.n = 0 THEN NULL ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
             FROM unnest(i.indcollation::oid[]) WITH ORDINALITY AS c(n, o)
             LEFT JOIN pg_collation co ON co.oid = c.n LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
             ORDER BY c.o) AS collations,
       ARRAY(SELECT quote_ident(on_.nspname) || '.' || quote_ident(oc.opcname)
             FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS c(n, o)
             JOIN pg_opclass oc ON oc.oid = c.n JOIN pg_namespace on_ ON on_.oid = oc.opcnamespace
             ORDER BY c.o) AS opclasses,
       i.indoption::int2[] AS options, pg_get_expr(i.indpred, i.indrelid) AS predicate,
       ic.reloptions AS storage, c.conname::text AS conname, pg_get_constraintdef(c.oid) AS condef,
       i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL AND
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) = $3 AS is_key
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x')
WHERE i.indrelid = $1 AND NOT i.indisprimary AND i.indisvalid
  AND NOT EXISTS (SELECT FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjid = $1
                    AND a.attname = ANY($2))
ORDER BY i.indexrelid
"""

DESC, NULLS_FIRST = 1, 2  # pg_index.indoption bits


def _element(r: dict, position: int) -> str:
    """One key column of the index: the column or (expression), its collation, operator class, order."""
    column = r["columns"][position]
    out = ident(column) if column is not None else f"({r['rendered'][position]})"
    if r["collations"][position]:
        out += f" COLLATE {r['collations'][position]}"
    out += f" {r['opclasses'][position]}"
    option = r["options"][position]
    if option & DESC:
        out += " DESC" + ("" if option & NULLS_FIRST else " NULLS LAST")
    elif option & NULLS_FIRST:
        out += " NULLS FIRST"
    return out


def create_index(r: dict, table: str) -> str:
    """CREATE INDEX on table from an INDEXES_SQL row (a name is chosen by the server)."""
    keys = ", ".join(_element(r, p) for p in range(r["key_count"]))
    included = [ident(c) if c is not None else f"({e})"
                for c, e in zip(r["columns"][r["key_count"]:], r["rendered"][r["key_count"]:], strict=True)]
    sql = (f"CREATE {'UNIQUE ' if r['is_unique'] else ''}INDEX ON {table} USING {ident(r['method'])} ({keys})"
           f"{' INCLUDE (' + ', '.join(included) + ')' if included else ''}"
           f"{' NULLS NOT DISTINCT' if r['nulls_not_distinct'] else ''}")
    if r["storage"]:
        options = [o.split("=", 1) for o in r["storage"]]
        sql += " WITH (" + ", ".join(f"{ident(k)} = {literal(v)}" for k, v in options) + ")"
    if r["predicate"]:
        sql += f" WHERE ({r['predicate']})"
    return sql


def index_statements(rows: list[dict], plan: Plan) -> list[str]:
    """CREATE INDEX / ADD CONSTRAINT statements for the shadow from INDEXES_SQL rows (skipping the
    index that is the migration key: the shadow's primary key)."""
    out = []
    for r in rows:
        if r["is_key"]:
            continue
        if r["conname"]:  # a constraint, so that its deferrability and kind carry over; a new name
            name = (r["conname"] + "_encrypted").encode()[:63].decode(errors="ignore")
            out.append(f"ALTER TABLE {plan.shadow} ADD CONSTRAINT {ident(name)} {r['condef']}")
            continue
        out.append(create_index(r, plan.shadow))
    return out
