"""colcrypt.prepare(): check the table, then create the shadow table and the dual-write triggers and
record the migration, all in the caller's one transaction (an error leaves nothing behind)."""

from colcrypt.migrate.shadow_indexes import INDEXES_SQL, index_statements
from colcrypt.migrate.sqlgen import (
    BIDX_SUFFIX,
    CONTEXT_VERSION,
    METADATA,
    SHADOW_SUFFIX,
    Column,
    Plan,
    bidx_indexes,
    context_prefix,
    create_shadow,
    generated_function,
    ident,
    literal,
    register_columns,
    truncate_function,
)
from colcrypt.migrate.sqlgen import trigger_function as row_function
from colcrypt.migrate.state import find_live, log_event
from colcrypt.plpy_helpers import as_owner, execute_one, fail, owner_rights, query

TABLE_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind::text AS relkind, c.relispartition,
       c.relowner::regrole::text AS owner
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1
"""
COLUMNS_SQL = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attnum,
       a.attgenerated <> '' AS generated, a.attidentity <> '' AS identity, t.typtype::text AS typtype
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
# Unique indexes usable as the migration key: primary key first, then the narrowest unique index
# on NOT NULL plain columns, without a predicate.
KEY_SQL = """
SELECT array_agg(a.attname ORDER BY k.ord) AS cols
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid, i.indisprimary
HAVING bool_and(a.attnotnull) AND bool_and(k.attnum > 0)
ORDER BY i.indisprimary DESC, count(*), i.indexrelid LIMIT 1
"""
# What would break once the column holds ciphertext: unique indexes on it, indexes whose expression
# or predicate uses it, constraints that compare its values (foreign key in or out, unique,
# exclusion), generated columns computed from it, the partition key. Plain indexes, views and CHECKs
# are fine (finalize has the name's trigger evaluate the CHECKs).
DEPENDENTS_SQL = """
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
FROM pg_depend d
LEFT JOIN pg_index i ON d.classid = 'pg_class'::regclass AND i.indexrelid = d.objid
LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.refobjsubid = $2
  AND (d.classid = 'pg_constraint'::regclass AND NOT EXISTS (SELECT FROM pg_constraint c
                                                               WHERE c.oid = d.objid AND c.contype = 'c')
       OR i.indexrelid IS NOT NULL AND (i.indisunique OR NOT $2 = ANY (i.indkey::int2[]))
       OR ad.oid IS NOT NULL AND ad.adnum <> $2)
UNION ALL
SELECT 'the partition key' FROM pg_partitioned_table p WHERE p.partrelid = $1 AND $2 = ANY (p.partattrs::int2[])
ORDER BY 1
"""
ROUND_TRIP_SQL = """
SELECT count(*) AS n FROM (SELECT {col} AS v FROM {source} WHERE {col} IS NOT NULL LIMIT 1000) s
WHERE (s.v::text)::{type}::text IS DISTINCT FROM s.v::text
"""


def _table(plpy, name: str, oid: int | None):
    if not name or not name.strip():
        fail(plpy, "KC008", "p_table is empty", "Name the table as applications do, e.g. 'crm.customers'.")
    rows = query(plpy, TABLE_SQL, ["oid"], [oid]) if oid else []
    if not rows:
        fail(plpy, "42P01", f"table {name} does not exist",
              "Name it as applications do, schema-qualified if it is not on the search_path, e.g. 'crm.customers';"
              " quote mixed-case names: '\"Legacy CRM\".\"Customers\"'.")
    t = rows[0]
    if t["relispartition"]:
        fail(plpy, "42809", f"{name} is a partition",
              "Migrate the partitioned table it belongs to; its partitions follow.")
    if t["relkind"] not in ("r", "p"):
        fail(plpy, "42809", f"{name} is not a table (relkind {t['relkind']})",
              "Only ordinary and partitioned tables can be migrated; migrate the table behind a view.")
    return t


def _check_columns(plpy, name: str, oid: int, all_cols: list[dict], wanted: list[str] | None, key: list[str],
                   source: str) -> None:
    if not wanted:
        fail(plpy, "KC008", f"no columns given for {name}",
              "Pass the sensitive columns, e.g. ARRAY['ssn', 'email'] (see colcrypt.discover()).")
    if len(set(wanted)) != len(wanted) or any(c is None for c in wanted):
        fail(plpy, "KC008", f"the column list for {name} has NULLs or duplicates", "Name each column once.")
    by_name = {c["attname"]: c for c in all_cols}
    for col in wanted:
        c = by_name.get(col)
        if c is None:
            fail(plpy, "42703", f"column {col} of {name} does not exist",
                  f"Columns of {name}: {', '.join(by_name)}. Names are case-sensitive.")
        if col in key:
            fail(plpy, "KC015", f"column {col} of {name} is part of the key colcrypt migrates by",
                  "Key columns stay in plaintext (rows are found by them); encrypt the other columns.")
        if c["generated"] or c["identity"]:
            fail(plpy, "KC015", f"column {col} of {name} is generated or an identity column",
                  "Generated and identity values are computed by the server; encrypt the columns they come from.")
        if c["typtype"] == "p":
            fail(plpy, "KC015", f"column {col} of {name} has a pseudo-type", "It cannot be stored encrypted.")
        dependents = [r["what"] for r in query(plpy, DEPENDENTS_SQL, ["oid", "int2"], [oid, c["attnum"]])]
        if dependents:
            fail(plpy, "KC015", f"column {col} of {name} is used by {', '.join(dependents)}",
                  "Those would break once the column holds ciphertext (random nonces make equal values differ). "
                  "Drop or change them first; equality lookups later use a blind index.")
        bad = as_owner(plpy, oid, ROUND_TRIP_SQL.format(col=ident(col), source=source, type=c["type"]))[0]["n"]
        if bad:
            fail(plpy, "KC015", f"values of column {col} of {name} ({c['type']}) do not survive text round trip",
                  "colcrypt encrypts a value's text form and casts it back; this type loses information that way.")


def _check_key(plpy, key_id: str | None, table: str, t: dict) -> None:
    if not key_id:
        fail(plpy, "KC008", "p_key_id is empty", "Pass a key from colcrypt.keyring, e.g. 'crm-pii'.")
    versions = query(plpy, "SELECT state FROM colcrypt.key_versions WHERE key_id = $1", ["text"], [key_id])
    if not versions:
        fail(plpy, "KC004", f"key {key_id!r} is not in colcrypt.keyring",
              "Create it first: colcrypt keys create KEY_ID. List keys with SELECT key_id FROM colcrypt.keyring.")
    if not any(v["state"] == "active" for v in versions):
        fail(plpy, "KC007", f"key {key_id!r} has no active version",
              "Rotate it to a new version (colcrypt keys rotate) or use another key.")
    # The triggers encrypt with the table owner's rights: make sure it can, before anything is created.
    try:
        with plpy.subtransaction():
            as_owner(plpy, t["oid"], "SELECT colcrypt.encrypt_column('probe', $1, 'colcrypt.prepare') AS v", ["text"],
                     [key_id])
    except plpy.SPIError as e:
        if getattr(e, "sqlstate", None) != "42501":
            raise
        fail(plpy, "42501", f"role {t['owner']}, the owner of {table}, may not use key {key_id!r} ({e.args[0]})",
             f"The dual-write triggers encrypt with the rights of the table's owner. Grant it the key: SELECT "
             f"colcrypt.grant_key({literal(key_id)}, {literal(t['owner'])}); server-side unwrapping must be "
             "configured (colcrypt.kek_file or colcrypt.provider_config, docs/keys.md).")


def prepare(plpy, table: str, table_oid: int | None, columns: list[str] | None, key_id: str | None,
            blind: list[str] | None = None) -> dict:
    t = _table(plpy, table, table_oid)
    oid, schema, relname = t["oid"], t["nspname"], t["relname"]
    live = find_live(plpy, oid)
    if live:
        fail(plpy, "KC016", f"{table} is already being migrated (migration {live['migration_id']}, "
                             f"state {live['state']})",
              "Continue it (CALL colcrypt.backfill(...)), or SELECT colcrypt.rollback(...) before preparing again.")
    key_rows = query(plpy, KEY_SQL, ["oid"], [oid])
    if not key_rows:
        fail(plpy, "KC014", f"{table} has no primary key and no unique index on NOT NULL columns",
              "colcrypt finds rows by their key: add a primary key (ALTER TABLE ... ADD PRIMARY KEY) first.")
    key = list(key_rows[0]["cols"])
    all_cols = query(plpy, COLUMNS_SQL, ["oid"], [oid])
    source = f"{ident(schema)}.{ident(relname)}"
    _check_columns(plpy, table, oid, all_cols, columns, key, source)
    _check_key(plpy, key_id, table, t)
    blind = list(blind or [])
    if any(b not in columns for b in blind) or len(set(blind)) != len(blind):
        fail(plpy, "KC008", f"p_blind_index names columns that are not among the columns to encrypt: {blind}",
             "A blind index is for encrypted columns with equality lookups, e.g. ARRAY['email'].")
    # a database not updated from 0.2.0 yet: its migrations take version 1's contexts, and the shadow and the
    # generated functions are the caller's, as 0.2.0 had them (from 0.2.1 on: the owner's)
    updated = owner_rights(plpy)
    version = CONTEXT_VERSION if updated else 1
    plan = Plan(schema, relname, tuple(Column(c["attname"], c["type"], c["attnotnull"]) for c in all_cols),
                tuple(columns), tuple(key), key_id,
                context_prefix(schema, relname) if version > 1 else f"{schema}.{relname}", tuple(blind),
                context_version=version)
    _check_names(plpy, table, plan, oid)

    migration_id = plpy.execute("SELECT nextval('colcrypt.migrations_migration_id_seq') AS id")[0]["id"]
    row_fn = generated_function("dual_write", migration_id)
    trunc_fn = generated_function("truncate", migration_id)
    shadow_comment = f"colcrypt: encrypted copy of {source} (migration {migration_id})"
    owner = t["owner"]  # regrole's text: quoted where it must be
    table_am = plpy.execute("SELECT pg_catalog.to_regclass('colcrypt.encrypted_columns') IS NOT NULL AS v")[0]["v"]
    statements = [
        create_shadow(plan, table_am),
        *([f"ALTER TABLE {plan.shadow} OWNER TO {owner}"] if updated else []),  # its indexes and writes: the owner's
        *bidx_indexes(plan),
        *index_statements(query(plpy, INDEXES_SQL, ["oid", "text[]", "text[]"], [oid, list(columns), key]), plan),
        f"COMMENT ON TABLE {plan.shadow} IS {literal(shadow_comment)}",
        row_function(plan, row_fn),
        f"COMMENT ON FUNCTION {row_fn}() IS {literal(f'colcrypt: writes each change of {source} to {plan.shadow}')}",
        truncate_function(plan, trunc_fn),
        f"COMMENT ON FUNCTION {trunc_fn}() IS {literal(f'colcrypt: TRUNCATE of {source} empties {plan.shadow}')}",
        f"REVOKE ALL ON FUNCTION {row_fn}(), {trunc_fn}() FROM PUBLIC",
        # definers: they run as the owner, never as the DBA
        *([f"ALTER FUNCTION {row_fn}() OWNER TO {owner}", f"ALTER FUNCTION {trunc_fn}() OWNER TO {owner}"]
          if updated else []),
        f"CREATE TRIGGER colcrypt_dual_write AFTER INSERT OR UPDATE OR DELETE ON {source}"
        f" FOR EACH ROW EXECUTE FUNCTION {row_fn}()",
    ]
    leaves = [r["rel"] for r in plpy.execute(
        f"SELECT relid::regclass::text AS rel FROM pg_partition_tree({literal(source)}::regclass) WHERE isleaf"
    )] if t["relkind"] == "p" else [source]
    for rel in dict.fromkeys([source, *leaves]):
        statements.append(f"CREATE TRIGGER colcrypt_truncate AFTER TRUNCATE ON {rel}"
                          f" FOR EACH STATEMENT EXECUTE FUNCTION {trunc_fn}()")
        # ALWAYS: sessions with session_replication_role = replica are captured too.
        statements.append(f"ALTER TABLE {rel} ENABLE ALWAYS TRIGGER colcrypt_truncate")
        statements.append(f"ALTER TABLE {rel} ENABLE ALWAYS TRIGGER colcrypt_dual_write")
    for sql in statements:
        execute_one(plpy, sql)

    shadow_oid = plpy.execute(f"SELECT {literal(plan.shadow)}::regclass::oid AS o")[0]["o"]
    query(plpy, "INSERT INTO colcrypt.migrations (migration_id, table_name, source, shadow, columns, blind_index,"
                " key_columns, key_types, key_id, context_prefix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
          ["int8", "text", "oid", "oid", "text[]", "text[]", "text[]", "text[]", "text", "text"],
          [migration_id, table, oid, shadow_oid, list(columns), blind, key, [plan.type_of(k) for k in key], key_id,
           plan.context_prefix])  # context_version: its default, 2
    for sql in register_columns(plan, migration_id) if table_am else []:
        execute_one(plpy, sql)
    detail = {"columns": list(columns), "blind_index": blind, "key_id": key_id, "key_columns": key,
              "shadow": plan.shadow}
    log_event(plpy, migration_id, table, "prepare", detail)
    return {"migration_id": migration_id, "shadow": plan.shadow, "key_columns": key}


def _check_names(plpy, table: str, plan: Plan, oid: int) -> None:
    if len(plan.shadow_name.encode()) > 63:
        fail(plpy, "KC019", f"the shadow table name {plan.shadow_name} is longer than 63 bytes",
              "Rename the table to a shorter name first; colcrypt appends _encrypted.")
    taken = plpy.execute(f"SELECT pg_catalog.to_regclass({literal(plan.shadow)}) IS NOT NULL AS t")[0]["t"]
    if taken:
        fail(plpy, "KC019", f"{plan.shadow} already exists",
              "A shadow table from an earlier attempt? Drop or rename it, then prepare again.")
    names = {c.name for c in plan.columns}
    added = {c + SHADOW_SUFFIX for c in plan.sensitive} | {c + BIDX_SUFFIX for c in plan.blind} | set(METADATA)
    clash = sorted(names.intersection(added))
    if clash:
        fail(plpy, "KC019", f"{table} already has column(s) {', '.join(clash)}",
              f"The shadow table names each encrypted column <column>_encrypted and adds {', '.join(METADATA)};"
              " rename the clashing column.")
    triggers = query(plpy, "SELECT tgname FROM pg_trigger WHERE tgrelid = $1 AND tgname IN"
                           " ('colcrypt_dual_write', 'colcrypt_truncate')", ["oid"], [oid])
    if triggers:
        fail(plpy, "KC019", f"{table} already has a trigger {triggers[0]['tgname']}",
              "Left over from an earlier migration: drop it (DROP TRIGGER ... ON ...) and prepare again.")
