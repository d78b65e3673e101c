"""Finding a table's live migration and rebuilding its plan from the catalog."""

import json
from dataclasses import replace

from colcrypt.migrate import sequences
from colcrypt.migrate.sqlgen import Column, Plan
from colcrypt.plpy_helpers import fail, query

LIVE_SQL = """
SELECT m.*, m.source::oid AS source_oid, m.shadow::oid AS shadow_oid, m.name_view::oid AS view_oid,
       n.nspname AS schema_name, c.relname AS rel_name,
       (SELECT relname FROM pg_class WHERE oid = m.shadow) AS shadow_name,
       (SELECT relname FROM pg_class WHERE oid = m.name_view) AS view_name
FROM colcrypt.migrations m JOIN pg_class c ON c.oid = m.source JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (m.source = $1 OR m.name_view = $1) AND m.state NOT IN ('cleaned', 'rolled_back')
"""
COLUMNS_SQL = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attgenerated,
       a.attidentity
FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""


def find_live(plpy, table_oid: int | None, lock: bool = False) -> dict | None:
    """The live migration of the table with this oid, or None."""
    rows = query(plpy, LIVE_SQL + (" FOR UPDATE OF m" if lock else ""), ["oid"], [table_oid]) if table_oid else []
    return dict(rows[0]) if rows else None


def live_migration(plpy, table: str, table_oid: int | None, lock: bool = False) -> dict:
    """The live migration of table (as applications name it, resolved to table_oid), or KC017."""
    if not table or not table.strip():
        fail(plpy, "KC008", "p_table is empty", "Name the table as applications do, e.g. 'crm.customers'.")
    m = find_live(plpy, table_oid, lock)
    if m is None:
        fail(plpy, "KC017", f"{table} is not being migrated",
             "Start with SELECT colcrypt.prepare(table, columns, key); see SELECT * FROM colcrypt.migrations.")
    return m


def set_paused(plpy, table: str, table_oid: int | None, paused: bool, reason: str | None) -> None:
    """colcrypt.pause() and colcrypt.resume(): the backfill's workers read the flag before each batch."""
    m = live_migration(plpy, table, table_oid, lock=True)
    query(plpy, "UPDATE colcrypt.migrations SET paused = $2, pause_reason = $3 WHERE migration_id = $1",
          ["int8", "bool", "text"], [m["migration_id"], paused, reason])
    log_event(plpy, m["migration_id"], m["table_name"], "pause" if paused else "resume",
              {"reason": reason} if paused else {})


def plan_of(plpy, m: dict) -> Plan:
    """The migration's plan from the catalog: its plaintext table (renamed after cutover), its shadow. Its
    identity columns are those of the table, and those that gave their sequence to the name (sequences)."""
    cols = query(plpy, COLUMNS_SQL, ["oid"], [m["source_oid"]])
    identity = moved_sequences(plpy, m)["identity"]
    columns = tuple(replace(c, identity=identity.get(c.name, c.identity)) for c in columns_of(cols))
    return Plan(m["schema_name"], m["rel_name"], columns, tuple(m["columns"]), tuple(m["key_columns"]),
                m["key_id"], m["context_prefix"], tuple(m["blind_index"]), m["shadow_name"],
                m.get("context_version", 1))  # 1 in a database not updated from 0.2.0 yet


def columns_of(rows) -> tuple[Column, ...]:
    """Plan columns from COLUMNS_SQL rows."""
    return tuple(Column(c["attname"], c["type"], c["attnotnull"], c["attgenerated"] == "s", c["attidentity"])
                 for c in rows)


def require_state(plpy, m: dict, allowed: tuple[str, ...], step: str) -> None:
    if m["state"] not in allowed:
        fail(plpy, "KC018", f"{m['table_name']} is in state {m['state']}; {step} needs {' or '.join(allowed)}",
             "See SELECT * FROM colcrypt.progress for where the migration stands, and docs/migration.md for "
             "the order of steps.")


def log_event(plpy, migration_id: int | None, table: str, event: str, detail: dict, outcome: str = "ok") -> None:
    query(plpy, "INSERT INTO colcrypt.migration_events (migration_id, table_name, event, outcome, detail)"
                " VALUES ($1, $2, $3, $4, $5::jsonb)", ["int8", "text", "text", "text", "text"],
          [migration_id, table, event, outcome, json.dumps(detail)])


def set_state(plpy, m: dict, state: str) -> None:
    query(plpy, "UPDATE colcrypt.migrations SET state = $2, state_changed_at = clock_timestamp()"
                " WHERE migration_id = $1", ["int8", "text"], [m["migration_id"], state])
    log_event(plpy, m["migration_id"], m["table_name"], f"state {state}", {"from": m["state"]})
    m["state"] = state


def event_details(plpy, m: dict, event: str) -> list[dict]:
    """The details of every event of this kind of the migration, oldest first."""
    rows = query(plpy, "SELECT detail::text AS d FROM colcrypt.migration_events WHERE migration_id = $1"
                       " AND event = $2 ORDER BY event_id", ["int8", "text"], [m["migration_id"], event])
    return [json.loads(r["d"]) for r in rows]


def event_detail(plpy, m: dict, event: str) -> dict:
    """The detail of the migration's latest event of this kind ({} when there is none)."""
    return ([{}] + event_details(plpy, m, event))[-1]


def moved_sequences(plpy, m: dict) -> dict:
    """What the switches gave the name (sequences.to_name), all of it: {"serial": [...], "identity": {...}}."""
    moved = {"serial": [], "identity": {}}
    for d in event_details(plpy, m, sequences.EVENT):
        moved["serial"] += d.get("serial", [])
        moved["identity"].update(d.get("identity", {}))
    return moved


LAYOUT_SQL = "SELECT EXISTS (SELECT FROM colcrypt.encrypted_columns WHERE migration_id = $1) AS v"


def table_layout(plpy, m: dict) -> bool:
    """Is the migration's shadow the table its name becomes (0.3.0 on: the access method colcrypt, its columns in
    colcrypt.encrypted_columns)? Migrations prepared by 0.2 put a view under the name."""
    if not plpy.execute("SELECT pg_catalog.to_regclass('colcrypt.encrypted_columns') IS NOT NULL AS v")[0]["v"]:
        return False  # a database not updated to 0.3.0 yet
    return bool(query(plpy, LAYOUT_SQL, ["int8"], [m["migration_id"]])[0]["v"])
