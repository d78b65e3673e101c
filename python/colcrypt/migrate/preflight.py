"""colcrypt.preflight(table): what the cutover will change for applications, before it happens.

From pg_stat_statements (when installed): the statements that touch the table in ways a view over
encrypted columns serves differently (equality, range, LIKE and ORDER BY on an encrypted column,
ON CONFLICT, TRUNCATE, ALTER). From the catalog: roles that read the table without the key,
row-level security, materialized views, statement-level and column triggers, rules, functions and
columns of the table's row type. Each finding
comes with its remedy. The statement matching is pure (statement_findings) and unit-tested."""

import re

from colcrypt.migrate.state import live_migration, plan_of
from colcrypt.plpy_helpers import query

# Roles that may read the table (directly or by a column grant), or a view of its encrypted columns
# (which decrypts as the reader after the cutover), but hold no grant of the key.
READERS_WITHOUT_KEY_SQL = """
WITH rels(oid) AS (
    VALUES ($1::oid)
    UNION
    SELECT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1
      AND r.ev_class <> $1 AND a.attname = ANY($3)
), readers AS (
    SELECT (aclexplode(c.relacl)).grantee, (aclexplode(c.relacl)).privilege_type FROM pg_class c
    WHERE c.oid IN (SELECT oid FROM rels)
    UNION ALL
    SELECT (aclexplode(a.attacl)).grantee, (aclexplode(a.attacl)).privilege_type FROM pg_attribute a
    WHERE a.attrelid IN (SELECT oid FROM rels) AND a.attacl IS NOT NULL
)
SELECT DISTINCT CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END AS role
FROM readers r
WHERE r.privilege_type = 'SELECT'
  AND (r.grantee = 0 OR NOT EXISTS (SELECT FROM colcrypt.key_grants g
                                     WHERE g.key_id = $2 AND pg_has_role(r.grantee, g.grantee, 'MEMBER')))
ORDER BY 1
"""
# What uses the table's row type or its array (pg_depend on the types): functions that return its rows or take
# them, columns and types made of them. After the read cutover the name is a view, whose rows are of another type.
ROW_TYPE_USERS_SQL = """
SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) AS what,
       d.classid = 'pg_proc'::regclass AND EXISTS (SELECT FROM pg_proc p WHERE p.oid = d.objid
                                                      AND p.proargtypes::oid[] && ARRAY[c.reltype, ty.typarray])
           AS takes_it
FROM pg_class c JOIN pg_type ty ON ty.oid = c.reltype
JOIN pg_depend d ON d.refclassid = 'pg_type'::regclass AND d.refobjid IN (c.reltype, ty.typarray)
WHERE c.oid = $1 AND d.deptype = 'n'
ORDER BY 1
"""
STATEMENTS_SQL = """
SELECT s.query, sum(s.calls)::bigint AS calls
FROM {schema}.pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.query ~* $1
GROUP BY s.query ORDER BY calls DESC LIMIT 1000
"""
CATALOG_SQL = """
SELECT
    (SELECT relrowsecurity FROM pg_class WHERE oid = $1) AS rls,
    ARRAY(SELECT DISTINCT v.oid::regclass::text FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
          JOIN pg_class v ON v.oid = r.ev_class
          WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 AND v.relkind = 'm') AS matviews,
    ARRAY(SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal
          AND tgname NOT LIKE 'colcrypt%' AND (tgtype & 1) = 0) AS statement_triggers,
    ARRAY(SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal AND tgattr <> '')
        AS column_triggers,
    ARRAY(SELECT rulename::text FROM pg_rewrite WHERE ev_class = $1 AND rulename <> '_RETURN') AS rules
"""


def _name_pattern(schema: str, table: str) -> str:
    """The table's name as a statement may write it: bare or quoted, schema-qualified or not."""
    t = re.escape(table)
    name = rf'(?:"{t}"|{t})' if table == table.lower() else rf'"{t}"'
    s = re.escape(schema)
    qualifier = rf'(?:(?:"{s}"|{s})\.)?' if schema == schema.lower() else rf'(?:"{s}"\.)?'
    return rf"(?<![\w.\"]){qualifier}{name}(?![\w\"])"


def _column_pattern(column: str) -> str:
    c = re.escape(column)
    name = rf'(?:"{c}"|{c})' if column == column.lower() else rf'"{c}"'
    return rf"(?<![\w\"]){name}(?![\w\"])"


def _without_assignments(text: str) -> str:
    """The statement without its SET lists (UPDATE ... SET, ON CONFLICT DO UPDATE SET): an assignment to an
    encrypted column is not a comparison. A subquery in a SET list keeps its WHERE and what follows."""
    return re.sub(r"\bset\b.*?(?=\bwhere\b|\bfrom\b|\breturning\b|$)", " ", text, flags=re.IGNORECASE | re.DOTALL)


def statement_findings(statements: list[tuple[str, int]], schema: str, table: str, sensitive: list[str],
                       blind: list[str]) -> list[dict]:
    """Findings from (query text, calls) pairs that name the table."""
    named = re.compile(_name_pattern(schema, table), re.IGNORECASE)
    out = []

    def add(kind: str, query_text: str, calls: int, remedy: str) -> None:
        out.append({"kind": kind, "detail": " ".join(query_text.split())[:200], "calls": calls, "remedy": remedy})

    for text, calls in statements:
        if not named.search(text):
            continue
        low = text.lower()
        if re.search(r"\bon\s+conflict\b", low) and re.search(r"\binsert\s+into\b", low):
            add("on_conflict", text, calls, "INSERT ... ON CONFLICT is refused through the view: rewrite as an "
                "UPDATE, then an INSERT when no row was updated, or run it against <table>_plaintext until the "
                "write cutover")
        if re.match(r"\s*truncate\b", low):
            add("truncate", text, calls, "TRUNCATE of the name fails after the cutover (a view): truncate "
                "<table>_plaintext, whose trigger empties the shadow")
        if re.match(r"\s*alter\s+table\b", low):
            add("alter", text, calls, "ALTER TABLE is refused during a migration (KC020): change the table's shape "
                "before prepare or after cleanup")
        compared = _without_assignments(text)
        for col in sensitive:
            c = _column_pattern(col)
            if re.search(rf"{c}\s*(?:=|\bin\s*\()", compared, re.IGNORECASE):
                remedy = ("has a blind index: look rows up by colcrypt.blind_index(value, ...) on <col>_bidx"
                          if col in blind else "add a blind index (prepare ... p_blind_index) for equality lookups")
                add("equality_on_encrypted", text, calls, f"{col}: becomes a scan that decrypts every row; {remedy}")
            if re.search(rf"{c}\s*(?:<|>|<=|>=|\bbetween\b|\bi?like\b|~)", compared, re.IGNORECASE) or \
                    re.search(rf"\border\s+by\b[^;]*{c}", compared, re.IGNORECASE):
                add("range_or_order_on_encrypted", text, calls, f"{col}: LIKE, ranges and ORDER BY decrypt every "
                    "row and no index serves them; keep such queries off the encrypted column or accept the scan")
    return out


def preflight(plpy, table: str, oid: int | None) -> list[dict]:
    m = live_migration(plpy, table, oid)
    plan = plan_of(plpy, m)
    name = m["view_name"] or plan.table
    findings = []
    ext = plpy.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                       " WHERE e.extname = 'pg_stat_statements'")
    statements = []
    if ext:
        try:
            with plpy.subtransaction():
                sql = STATEMENTS_SQL.format(schema='"' + ext[0]["nspname"].replace('"', '""') + '"')
                rows = query(plpy, sql, ["text"], [re.escape(name).replace("\\ ", " ")])
                statements = [(r["query"], r["calls"]) for r in rows]
        except plpy.SPIError as e:  # installed but not preloaded
            findings.append({"kind": "statements_not_checked", "detail": str(e).splitlines()[0], "calls": None,
                             "remedy": "add pg_stat_statements to shared_preload_libraries to check statements"})
    else:
        findings.append({"kind": "statements_not_checked", "detail": "pg_stat_statements is not installed",
                         "calls": None, "remedy": "CREATE EXTENSION pg_stat_statements (preloaded) and let the "
                         "application run a while, then run preflight again"})
    findings += statement_findings(statements, plan.schema, name, list(plan.sensitive), list(plan.blind))
    findings += _catalog_findings(plpy, m)
    return findings


def _catalog_findings(plpy, m: dict) -> list[dict]:
    out = []

    def add(kind: str, detail: str, remedy: str) -> None:
        out.append({"kind": kind, "detail": detail, "calls": None, "remedy": remedy})

    readers = [r["role"] for r in query(plpy, READERS_WITHOUT_KEY_SQL, ["oid", "text", "text[]"],
                                        [m["source_oid"], m["key_id"], list(m["columns"])])]
    if readers:
        add("reader_without_key", ", ".join(readers), f"grant the key: SELECT colcrypt.grant_key('{m['key_id']}', "
            "role); their reads through the name would fail (cutover refuses, KC023)")
    c = query(plpy, CATALOG_SQL, ["oid"], [m["source_oid"]])[0]
    if c["rls"]:
        add("row_level_security", "enabled", "the policies are carried over to the shadow and checked as the caller "
            "through the name (readers get SELECT on the shadow); a policy that uses an encrypted column makes the "
            "cutover refuse")
    for mv in c["matviews"]:
        add("materialized_view", mv, "keeps reading <table>_plaintext; re-create it after the cutover")
    for t in c["statement_triggers"]:
        add("statement_trigger", t, "fires once per row for writes through the name")
    for t in c["column_triggers"]:
        add("column_trigger", t, "UPDATE OF column triggers fire for every update through the name")
    for r in c["rules"]:
        add("rule", r, "rules on the table do not apply to statements through the name")
    for u in query(plpy, ROW_TYPE_USERS_SQL, ["oid"], [m["source_oid"]]):
        if u["takes_it"]:
            add("row_type", u["what"], "takes the table's rows, which are of another type once the name is a view: "
                "the read cutover refuses (KC027); make it take the columns it needs (or record)")
        else:
            add("row_type", u["what"], "uses the table's row type, which stays the plaintext table's: it works until "
                "cleanup, which refuses while it does (KC025); after the read cutover re-create it on the name's type "
                "(e.g. RETURNS SETOF the name)")
    return out
