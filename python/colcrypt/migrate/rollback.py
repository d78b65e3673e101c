"""colcrypt.rollback(table): back to the plaintext table as it was before prepare, from any stage
before cleanup, in one short switch. The plaintext table has taken every write all along (through
the view's INSTEAD OF trigger after the read cutover), so nothing written is lost; the pg_cron jobs,
the triggers, the view and the shadow go."""


from colcrypt.migrate import sequences
from colcrypt.migrate.cutover import DEPENDENT_VIEWS_SQL, instead_function_name
from colcrypt.migrate.cutover_sql import view_decrypt
from colcrypt.migrate.foreign_keys import add_foreign_key, definition, foreign_key
from colcrypt.migrate.privileges import set_privileges
from colcrypt.migrate.row_triggers import ENABLE
from colcrypt.migrate.schedule import unschedule_all
from colcrypt.migrate.sqlgen import generated_function, ident
from colcrypt.migrate.state import (
    event_detail,
    live_migration,
    log_event,
    moved_sequences,
    plan_of,
    require_state,
    set_state,
    table_layout,
)
from colcrypt.migrate.switch import lock_names_of, run_switch, switch_timeout
from colcrypt.plpy_helpers import as_owner, execute_one, query

BEFORE_CLEANUP = ("dual_write", "backfilling", "backfilled", "validated", "cutover_reads", "cutover_writes",
                  "finalized")
TRIGGERS_SQL = """
SELECT t.tgrelid::regclass::text AS rel, t.tgname FROM pg_trigger t
WHERE (t.tgrelid = $1 OR t.tgrelid IN (SELECT relid FROM pg_partition_tree($1))) AND NOT t.tgisinternal
  AND t.tgname IN ('colcrypt_dual_write', 'colcrypt_truncate') AND t.tgparentid = 0
"""


def rollback(plpy, table: str, oid: int | None, lock_timeout, retries: int) -> dict:
    timeout_s = switch_timeout(plpy, lock_timeout, retries)
    m = live_migration(plpy, table, oid, lock=True)
    require_state(plpy, m, BEFORE_CLEANUP, "rollback")
    jobs = unschedule_all(plpy, m)
    plan = plan_of(plpy, m)
    oids = [m["source_oid"], m["shadow_oid"]] + ([m["view_oid"]] if m["view_oid"] else [])
    finalized = event_detail(plpy, m, "finalize") if m["state"] == "finalized" else None
    oids += [fk["rel_oid"] for fk in finalized["foreign_keys_in"]] if finalized else []
    result = run_switch(plpy, table, oids, lambda: _undo(plpy, m, plan, finalized), timeout_s, retries)
    from_state = m["state"]
    query(plpy, "UPDATE colcrypt.migrations SET name_view = NULL WHERE migration_id = $1", ["int8"],
          [m["migration_id"]])
    set_state(plpy, m, "rolled_back")
    log_event(plpy, m["migration_id"], m["table_name"], "rollback", {"from": from_state, "cron_jobs": jobs, **result})
    return {"from_state": from_state, **result}


def _undo(plpy, m: dict, plan, finalized: dict | None) -> None:
    aside = f"colcrypt_rollback_{int(m['migration_id'])}"
    # read while their text still names the view (once renamed aside, it would name that)
    dependents = [dict(r) for r in query(plpy, DEPENDENT_VIEWS_SQL, ["oid"], [m["view_oid"]])] if m["view_oid"] else []
    if m["view_oid"]:
        # The name's lock first, as applications take it first (then the tables') - the other order
        # deadlocks with them; renaming it aside takes that lock (see switch.lock_name).
        execute_one(plpy, f"ALTER VIEW {ident(plan.schema)}.{ident(m['view_name'])} RENAME TO {ident(aside)}")
    if finalized is not None:
        lock_names_of(plpy, [fk["rel_oid"] for fk in finalized["foreign_keys_in"]] +
                      [fk["ref_oid"] for fk in finalized["foreign_keys_in"] + finalized["foreign_keys_out"]],
                      but=m["view_oid"])
    execute_one(plpy, f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")
    if finalized is not None:
        _catch_up(plpy, m, plan, finalized)
    if m["state"] in ("cutover_writes", "finalized"):  # the plaintext table is in step; its triggers fire there again
        moved = event_detail(plpy, m, "cutover writes")
        for name in moved.get("triggers", []):
            enable = ENABLE[moved.get("enabled", {}).get(name, "O")]
            execute_one(plpy, f"ALTER TABLE {plan.source} {enable} TRIGGER {ident(name)}")
    if m["view_oid"]:  # the read cutover took every privilege of the table's grantees to the name
        set_privileges(plpy, m["source_oid"], m["view_oid"], "GRANT", writes_only=False)
        sequences.to_table(plpy, m["view_oid"], plan.source, moved_sequences(plpy, m))
        execute_one(plpy, f"ALTER TABLE {plan.source} RENAME TO {ident(m['view_name'])}")
        for d in dependents:  # their text names the view; now the name is the table again
            options = f" WITH ({d['options']})" if d["options"] else ""
            execute_one(plpy, f"CREATE OR REPLACE VIEW {d['name']}{options} AS {d['def']}")
        execute_one(plpy, f"DROP VIEW {ident(plan.schema)}.{ident(aside)}")
        execute_one(plpy, f"DROP FUNCTION {instead_function_name(m)}()")
    for t in query(plpy, TRIGGERS_SQL, ["regclass"], [m["source_oid"]]):
        execute_one(plpy, f"DROP TRIGGER {ident(t['tgname'])} ON {t['rel']}")
    mid = m["migration_id"]
    execute_one(plpy, f"DROP FUNCTION {generated_function('dual_write', mid)}(),"
                      f" {generated_function('truncate', mid)}()")
    if table_layout(plpy, m):  # the shadow's reads and its encrypted columns end with it
        for catalog in ("read_redirects", "encrypted_columns"):
            query(plpy, f"DELETE FROM colcrypt.{catalog} WHERE migration_id = $1", ["int8"], [mid])
    execute_one(plpy, f"DROP TABLE {plan.shadow}")


def _catch_up(plpy, m: dict, plan, finalized: dict) -> None:
    """From finalized: the plaintext table has taken no write since; bring it up to date from the
    shadow (rows deleted since, rows the name's trigger wrote since, marked 'final') and give it its
    foreign keys back, NOT VALID (validating would hold the switch's locks for a full scan)."""
    key = " AND ".join(f"s.{ident(k)} = t.{ident(k)}" for k in plan.key_columns)
    # as the table's owner: its CHECKs, defaults and index expressions run with its rights
    as_owner(plpy, m["source_oid"],
             f"DELETE FROM {plan.source} AS t WHERE NOT EXISTS (SELECT FROM {plan.shadow} AS s WHERE {key})")
    cols = ", ".join(ident(c.name) for c in plan.columns)
    values = ", ".join(view_decrypt(plan, c.name, "s") if c.name in plan.sensitive else f"s.{ident(c.name)}"
                       for c in plan.columns)
    sets = ", ".join(f"{ident(c.name)} = excluded.{ident(c.name)}" for c in plan.columns
                     if c.name not in plan.key_columns and c.identity != "a")
    overriding = " OVERRIDING SYSTEM VALUE" if any(c.identity == "a" for c in plan.columns) else ""
    conflict = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
    as_owner(plpy, m["source_oid"], f"INSERT INTO {plan.source} AS t ({cols}){overriding} SELECT {values}"
                                    f" FROM {plan.shadow} AS s WHERE s.migration_status = 'final'"
                                    f" ON CONFLICT ({', '.join(ident(k) for k in plan.key_columns)}) {conflict}")
    restored = []
    for fk in finalized["foreign_keys_in"] + finalized["foreign_keys_out"]:
        into = "rel_oid" in fk  # a key of another table into this one; else one of this table, on the shadow now
        rel = _name(plpy, fk["rel_oid"]) if into else plan.source
        parts = foreign_key(plpy, fk["rel_oid"] if into else m["shadow_oid"], fk["name"])
        # what it references now: this table again, or the other table by its name now (a cutover of its
        # own may have changed it)
        ref = plan.source if into or parts["ref_oid"] == m["shadow_oid"] else _name(plpy, parts["ref_oid"])
        if into:
            execute_one(plpy, f"ALTER TABLE {rel} DROP CONSTRAINT {ident(fk['name'])}")
        if add_foreign_key(plpy, rel, fk["name"], definition(parts, ref)):
            owner = rel if into else f"{ident(plan.schema)}.{ident(m['view_name'])}"
            restored.append(f"ALTER TABLE {owner} VALIDATE CONSTRAINT {ident(fk['name'])}")
    if restored:
        plpy.notice("colcrypt: foreign keys restored NOT VALID (every row satisfies them); validate them at a quiet "
                    "moment, without blocking writes: " + "; ".join(restored))


def _name(plpy, oid: int) -> str:
    return query(plpy, "SELECT $1::regclass::text AS t", ["oid"], [oid])[0]["t"]
