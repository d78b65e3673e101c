"""The SQL a migration runs, generated from the table's shape: the shadow table, the dual-write
trigger function, the backfill batch and the validation query. Pure Python, so it is unit-tested
without a server; every identifier is quoted and every literal escaped here, in one place."""

from dataclasses import dataclass

ALGORITHM = "AES-256-GCM"
SHADOW_SUFFIX = "_encrypted"
BIDX_SUFFIX = "_bidx"
METADATA = {"encryption_key_id": "text", "encryption_algorithm": "text", "encrypted_at": "timestamptz",
            "migration_status": "text"}  # the shadow's last columns


CONTEXT_VERSION = 2  # migrations.context_version of new migrations


def context_prefix(schema: str, table: str) -> str:
    """The first part of every value's context: the table, quoted, so that no two tables share it."""
    return f"{ident(schema)}.{ident(table)}"


def column_context(prefix: str, version: int, column: str) -> str:
    """A column's context (blind indexes; values add '#' and the row key). Version 1 (migrations
    prepared before 0.2.1) joined unquoted names, so that s."t"."x.c" and s."t.x"."c" met."""
    return f"{prefix}.{column}" if version == 1 else f"{prefix}.{ident(column)}"


def ident(name: str) -> str:
    """A quoted identifier, whatever the name holds."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted literal that means the same with standard_conforming_strings on or off."""
    quoted = "'" + text.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in text else quoted


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): the declared type with its typmod, e.g. character varying(20)
    not_null: bool = False
    generated: bool = False  # GENERATED ALWAYS AS (...) STORED: computed by the table, never written
    identity: str = ""  # pg_attribute.attidentity: 'a' (ALWAYS), 'd' (BY DEFAULT) or ''


@dataclass(frozen=True)
class Plan:
    """What prepare decided: the table's columns in order, which are encrypted, which form the key."""

    schema: str
    table: str
    columns: tuple[Column, ...]
    sensitive: tuple[str, ...]
    key_columns: tuple[str, ...]
    key_id: str
    context_prefix: str  # "schema"."table" at prepare time: part of every value's associated data
    blind: tuple[str, ...] = ()  # sensitive columns that also get a blind index <col>_bidx
    shadow_table: str = ""  # the shadow's name when it is no longer <table>_encrypted (after cutover)
    context_version: int = CONTEXT_VERSION

    def column_context(self, column: str) -> str:
        return column_context(self.context_prefix, self.context_version, column)

    @property
    def source(self) -> str:
        return f"{ident(self.schema)}.{ident(self.table)}"

    @property
    def shadow_name(self) -> str:
        return self.shadow_table or self.table + SHADOW_SUFFIX

    @property
    def shadow(self) -> str:
        return f"{ident(self.schema)}.{ident(self.shadow_name)}"

    def type_of(self, name: str) -> str:
        return next(c.type for c in self.columns if c.name == name)

    def shadow_columns(self) -> list[str]:
        """Shadow column names in order: each sensitive column replaced in place by <col>_encrypted."""
        names = []
        for c in self.columns:
            names += ([c.name + SHADOW_SUFFIX] + ([c.name + BIDX_SUFFIX] if c.name in self.blind else [])
                      if c.name in self.sensitive else [c.name])
        return names + list(METADATA)


def dollar_quoted(body: str) -> str:
    """body between dollar quotes whose tag it does not contain (a column name may hold any text)."""
    tag, n = "colcrypt", 0
    while f"${tag}$" in body:
        n += 1
        tag = f"colcrypt{n}"
    return f"${tag}$\n{body}\n${tag}$"


def trigger_function_sql(function: str, body: str, replace: bool = False, definer: bool = True) -> str:
    """CREATE FUNCTION of a generated trigger function: PL/pgSQL, search_path pinned. A definer one
    runs as its owner, which is the table's owner (never the DBA who ran the step)."""
    return (f"CREATE {'OR REPLACE ' if replace else ''}FUNCTION {function}() RETURNS trigger\n"
            f"LANGUAGE plpgsql VOLATILE SECURITY {'DEFINER' if definer else 'INVOKER'}\n"
            f"SET search_path = pg_catalog, pg_temp\nAS {dollar_quoted(body)}")


def generated_function(kind: str, migration_id: int) -> str:
    """The name of a function generated for a migration: dual_write, truncate or instead."""
    return f"colcrypt.{ident(f'{kind}_{int(migration_id)}')}"


def key_text(plan: Plan, row: str) -> str:
    """The row key as text, bound into each value's context, so a value moved to another row fails."""
    cols = [f"{row}.{ident(k)}" for k in plan.key_columns]
    return f"({cols[0]})::text" if len(cols) == 1 else f"ROW({', '.join(cols)})::text"


def context(plan: Plan, column: str, row: str) -> str:
    return f"{literal(plan.column_context(column) + '#')} || {key_text(plan, row)}"


def encrypt(plan: Plan, column: str, row: str) -> str:
    return (f"colcrypt.encrypt_column(({row}.{ident(column)})::text, {literal(plan.key_id)}, "
            f"{context(plan, column, row)})")


def decrypt(plan: Plan, column: str, row: str) -> str:
    """The plaintext of a shadow row's column, restored to its declared type."""
    value = f"colcrypt.decrypt_column({row}.{ident(column + SHADOW_SUFFIX)}, {context(plan, column, row)})"
    return f"({value})::{plan.type_of(column)}"


def blind_index(plan: Plan, column: str, row: str) -> str:
    """The column's blind index of a row's value: keyed by the column, not the row, so that equal
    values can be looked up."""
    return (f"colcrypt.blind_index(({row}.{ident(column)})::text, {literal(plan.key_id)},"
            f" {literal(plan.column_context(column))})")


def shadow_values(plan: Plan, row: str, status: str) -> list[str]:
    values = []
    for c in plan.columns:
        if c.name in plan.sensitive:
            values.append(encrypt(plan, c.name, row))
            if c.name in plan.blind:
                values.append(blind_index(plan, c.name, row))
        else:
            values.append(f"{row}.{ident(c.name)}")
    return values + [literal(plan.key_id), literal(ALGORITHM), "pg_catalog.now()", literal(status)]


def not_null_check(plan: Plan, column: str) -> str:
    """The NOT NULL of an encrypted column, over its pair: its logical column is stored NULL (a
    restore or a subscriber brings rows that way), so the value or its envelope is what must be there."""
    name = ident(f"{plan.table}_{column}_not_null"[:63])
    return f"CONSTRAINT {name} CHECK ({ident(column)} IS NOT NULL OR {ident(column + SHADOW_SUFFIX)} IS NOT NULL)"


def create_shadow(plan: Plan, table_am: bool = True) -> str:
    """The shadow. With the access method colcrypt (0.3.0 on), it is the table the name will be:
    every column of the table in its order, with its name and type (an encrypted one is its logical
    column, stored NULL), then each encrypted column's envelope (and blind index), then the metadata.
    Without (a database still at 0.2): each encrypted column replaced in place by its envelope."""
    cols = []
    for c in plan.columns:
        if c.name not in plan.sensitive:
            cols.append(f"{ident(c.name)} {c.type}{' NOT NULL' if c.not_null else ''}")
        elif table_am:
            cols.append(f"{ident(c.name)} {c.type}")
        else:
            cols.append(f"{ident(c.name + SHADOW_SUFFIX)} bytea")
            if c.name in plan.blind:
                cols.append(f"{ident(c.name + BIDX_SUFFIX)} bytea")
    if table_am:
        for c in plan.columns:
            if c.name in plan.sensitive:
                cols.append(f"{ident(c.name + SHADOW_SUFFIX)} bytea")
                if c.name in plan.blind:
                    cols.append(f"{ident(c.name + BIDX_SUFFIX)} bytea")
    cols += [f"{name} {type_} NOT NULL" for name, type_ in METADATA.items()]
    if table_am:
        cols += [not_null_check(plan, c.name) for c in plan.columns if c.name in plan.sensitive and c.not_null]
    key = ", ".join(ident(k) for k in plan.key_columns)
    return (f"CREATE TABLE {plan.shadow} (\n    " + ",\n    ".join(cols) + f",\n    PRIMARY KEY ({key})\n)"
            + (" USING colcrypt" if table_am else ""))


def register_columns(plan: Plan, migration_id: int) -> list[str]:
    """The rows of colcrypt.encrypted_columns that make the shadow's logical columns read and written as
    plaintext (the access method and the planner hook read them)."""
    keys = "ARRAY[" + ", ".join(literal(k) for k in plan.key_columns) + "]::name[]"
    return [f"INSERT INTO colcrypt.encrypted_columns (relation, column_name, envelope_column, blind_index_column,"
            f" key_id, context, key_columns, migration_id) VALUES ({literal(plan.shadow)}::regclass, {literal(c)},"
            f" {literal(c + SHADOW_SUFFIX)}, {literal(c + BIDX_SUFFIX) if c in plan.blind else 'NULL'},"
            f" {literal(plan.key_id)}, {literal(plan.column_context(c))}, {keys}, {int(migration_id)})"
            for c in plan.sensitive]


def bidx_indexes(plan: Plan) -> list[str]:
    return [f"CREATE INDEX ON {plan.shadow} ({ident(c + BIDX_SUFFIX)})" for c in plan.blind]


def _key_match(plan: Plan, table: str, row: str) -> str:
    return " AND ".join(f"{table}.{ident(k)} = {row}.{ident(k)}" for k in plan.key_columns)


def upsert(plan: Plan, row: str, status: str) -> str:
    """Insert the encrypted row, or overwrite the shadow's copy: the trigger's write always wins."""
    names = plan.shadow_columns()
    updates = ", ".join(f"{ident(n)} = excluded.{ident(n)}" for n in names if n not in plan.key_columns)
    return (f"INSERT INTO {plan.shadow} AS s ({', '.join(ident(n) for n in names)})\n"
            f"    VALUES ({', '.join(shadow_values(plan, row, status))})\n"
            f"    ON CONFLICT ({', '.join(ident(k) for k in plan.key_columns)}) DO UPDATE SET {updates}")


def trigger_function(plan: Plan, function: str) -> str:
    """The dual-write row trigger: INSERT and UPDATE upsert the encrypted row (a key change first
    deletes the old key), DELETE deletes it. AFTER triggers see the row as finally written."""
    key_changed = " OR ".join(f"OLD.{ident(k)} IS DISTINCT FROM NEW.{ident(k)}" for k in plan.key_columns)
    return trigger_function_sql(function, f"""BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({key_changed})) THEN
        DELETE FROM {plan.shadow} AS s WHERE {_key_match(plan, 's', 'OLD')};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {upsert(plan, 'NEW', 'dual_write')};
    END IF;
    RETURN NULL;
END""")


def truncate_function(plan: Plan, function: str, replace: bool = False) -> str:
    """TRUNCATE of the table empties the shadow; TRUNCATE of one partition removes the shadow rows
    whose keys are no longer in the table."""
    return trigger_function_sql(function, f"""BEGIN
    IF TG_RELID = {literal(plan.source)}::regclass THEN
        TRUNCATE {plan.shadow};
    ELSE
        DELETE FROM {plan.shadow} AS s
        WHERE NOT EXISTS (SELECT FROM {plan.source} AS t WHERE {_key_match(plan, 't', 's')});
    END IF;
    RETURN NULL;
END""", replace=replace)


def _key_tuple(plan: Plan, row: str | None = None) -> str:
    cols = [f"{row}.{ident(k)}" if row else ident(k) for k in plan.key_columns]
    return f"({', '.join(cols)})"


def _key_param(plan: Plan, param: str) -> str:
    """A key passed as text[] parameter, cast back to the key's types."""
    return "(" + ", ".join(f"({param}[{i}])::{plan.type_of(k)}" for i, k in enumerate(plan.key_columns, 1)) + ")"


def key_array(plan: Plan, row: str) -> str:
    return "ARRAY[" + ", ".join(f"({row}.{ident(k)})::text" for k in plan.key_columns) + "]"


def backfill_batch(plan: Plan, with_lower: bool) -> str:
    """One batch: the next rows after the checkpoint ($1, text[]) up to the range's upper bound ($2)
    in key order, at most $3 of them, locked FOR KEY SHARE (a racing DELETE or key change waits for
    the batch, then its trigger removes the row), encrypted in one set-based INSERT that skips rows
    the trigger has already written. Whether any are in the batch's key span is asked once, with one
    index probe; only then is each row checked. (NOT EXISTS rather than ON CONFLICT DO NOTHING: a
    speculative insert costs about a third more; a trigger row committed between the check and the
    insert makes the batch fail with a unique violation, and the retried batch skips it.) Returns
    the rows read, the rows inserted and the last key."""
    lower = f"{_key_tuple(plan)} > {_key_param(plan, '$1')} AND " if with_lower else ""
    shadow_lower = f"{_key_tuple(plan, 's')} > {_key_param(plan, '$1')} AND " if with_lower else ""
    order = ", ".join(ident(k) for k in plan.key_columns)
    last_row = f"SELECT * FROM batch AS b ORDER BY {', '.join(f'b.{ident(k)} DESC' for k in plan.key_columns)} LIMIT 1"
    last = "(" + ", ".join(f"(SELECT l.{ident(k)} FROM last AS l)" for k in plan.key_columns) + ")"
    names = plan.shadow_columns()
    return f"""WITH batch AS (
    SELECT * FROM {plan.source}
    WHERE {lower}{_key_tuple(plan)} <= {_key_param(plan, '$2')}
    ORDER BY {order} LIMIT $3
    FOR KEY SHARE
), last AS (
    {last_row}
), inserted AS (
    INSERT INTO {plan.shadow} ({', '.join(ident(n) for n in names)})
    SELECT {', '.join(shadow_values(plan, 'b', 'backfilled'))} FROM batch AS b
    WHERE NOT EXISTS (SELECT FROM {plan.shadow} AS s WHERE {shadow_lower}{_key_tuple(plan, 's')} <= {last})
       OR NOT EXISTS (SELECT FROM {plan.shadow} AS s WHERE {_key_match(plan, 's', 'b')})
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS rows_read, (SELECT count(*) FROM inserted) AS rows_inserted,
       (SELECT {key_array(plan, 'l')} FROM last AS l) AS last_key"""


def upper_key(plan: Plan) -> str:
    """The greatest key now: the backfill's upper bound, read once the triggers are committed."""
    desc = ", ".join(f"t.{ident(k)} DESC" for k in plan.key_columns)  # t.: a key column may be named k
    return f"SELECT {key_array(plan, 't')} AS k FROM {plan.source} AS t ORDER BY {desc} LIMIT 1"


def sample_keys(plan: Plan) -> str:
    """Keys up to the upper bound ($2) from pages spread over the table ($1: sample percent), in key
    order, to split the key space between workers."""
    order = ", ".join(f"t.{ident(k)}" for k in plan.key_columns)
    return (f"SELECT {key_array(plan, 't')} AS k FROM {plan.source} AS t TABLESAMPLE SYSTEM ($1) REPEATABLE (7)"
            f" WHERE {_key_tuple(plan, 't')} <= {_key_param(plan, '$2')} ORDER BY {order} LIMIT 100000")


def count_up_to(plan: Plan) -> str:
    return f"SELECT count(*) AS n FROM {plan.source} WHERE {_key_tuple(plan)} <= {_key_param(plan, '$1')}"


def validation(plan: Plan, sampled: bool) -> str:
    """Decrypt-and-compare in one statement, so in one snapshot: every source row (or a sample,
    $1 percent of pages, at most $2 rows) against its shadow row, and every shadow row (or a sample)
    against the source (the shadow's stored columns only: reading a logical column would decrypt it,
    strictly). Verdicts: valid, mismatched (a value differs, or does not authenticate),
    missing (in the source, not the shadow), orphaned (in the shadow, not the source)."""
    sample = " TABLESAMPLE SYSTEM ($1) REPEATABLE (11)" if sampled else ""
    limit = " LIMIT $2" if sampled else ""
    checks = []
    for c in plan.columns:
        if c.name in plan.sensitive:
            checks.append(f"colcrypt.verify_column(s.{ident(c.name + SHADOW_SUFFIX)}, {context(plan, c.name, 's')},"
                          f" (t.{ident(c.name)})::text)")
            if c.name in plan.blind:
                checks.append(f"s.{ident(c.name + BIDX_SUFFIX)} IS NOT DISTINCT FROM {blind_index(plan, c.name, 't')}")
        elif c.name not in plan.key_columns:
            checks.append(f"(s.{ident(c.name)})::text IS NOT DISTINCT FROM (t.{ident(c.name)})::text")
    same = " AND ".join(checks) or "true"
    present = " AND ".join(f"s.{ident(k)} IS NOT NULL" for k in plan.key_columns)
    return f"""WITH t AS (SELECT * FROM {plan.source} AS t{sample}{limit}),
s AS (SELECT {', '.join('s.' + ident(n) for n in plan.shadow_columns())} FROM {plan.shadow} AS s{sample}{limit}),
verdicts AS (
    SELECT CASE WHEN NOT ({present}) THEN 'missing' WHEN {same} THEN 'valid' ELSE 'mismatched' END AS verdict,
           {key_text(plan, 't')} AS k
    FROM t LEFT JOIN {plan.shadow} AS s ON {_key_match(plan, 's', 't')}
    UNION ALL
    SELECT 'orphaned', {key_text(plan, 's')} FROM s
    WHERE NOT EXISTS (SELECT FROM {plan.source} AS t WHERE {_key_match(plan, 't', 's')})
)
SELECT count(*) FILTER (WHERE verdict <> 'orphaned') AS total,
       count(*) FILTER (WHERE verdict = 'valid') AS valid,
       count(*) FILTER (WHERE verdict = 'mismatched') AS mismatched,
       count(*) FILTER (WHERE verdict = 'missing') AS missing,
       count(*) FILTER (WHERE verdict = 'orphaned') AS orphaned,
       (array_agg(k ORDER BY k) FILTER (WHERE verdict = 'mismatched'))[1:5] AS mismatched_keys,
       (array_agg(k ORDER BY k) FILTER (WHERE verdict = 'missing'))[1:5] AS missing_keys,
       (array_agg(k ORDER BY k) FILTER (WHERE verdict = 'orphaned'))[1:5] AS orphaned_keys
FROM verdicts"""
