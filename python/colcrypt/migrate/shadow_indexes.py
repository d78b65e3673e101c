"""The table's indexes and unique or exclusion constraints that involve no encrypted column, made
again on the shadow at prepare time (while it is empty, so at no cost), so that queries through
the name after the cutover find the same indexes, and the shadow can enforce the same uniqueness
once it becomes the table of record."""

from colcrypt.migrate.sqlgen import Plan, ident

INDEXES_SQL = """
SELECT i.indexrelid, pg_get_indexdef(i.indexrelid) AS def, c.conname, pg_get_constraintdef(c.oid) AS condef,
       i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL AND
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) = $3 AS is_key,
       quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS rendered
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x')
WHERE i.indrelid = $1 AND NOT i.indisprimary AND i.indisvalid
  AND NOT EXISTS (SELECT FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjid = $1
                    AND a.attname = ANY($2))
ORDER BY i.indexrelid
"""


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
        for marker in (f" ON ONLY {r['rendered']} USING ", f" ON {r['rendered']} USING "):
            if marker in r["def"]:
                unique = "UNIQUE " if r["def"].startswith("CREATE UNIQUE ") else ""
                out.append(f"CREATE {unique}INDEX ON {plan.shadow} USING {r['def'].split(marker, 1)[1]}")
                break
    return out
