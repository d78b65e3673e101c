"""colcrypt.rollback(table): back to the plaintext table as it was before prepare, from any stage
before cleanup, in one short switch. The plaintext table has taken every write all along (through
the view's INSTEAD OF trigger after the read cutover), so nothing written is lost; the pg_cron jobs,
the triggers, the view and the shadow go."""

import json

from colcrypt.migrate.cutover import DEPENDENT_VIEWS_SQL, instead_function_name, set_direct_writes
from colcrypt.migrate.schedule import unschedule_all
from colcrypt.migrate.sqlgen import generated_function, ident
from colcrypt.migrate.state import live_migration, log_event, plan_of, require_state, set_state
from colcrypt.migrate.switch import run_switch
from colcrypt.plpy_helpers import fail, interval_seconds, query

BEFORE_CLEANUP = ("dual_write", "backfilling", "backfilled", "validated", "cutover_reads", "cutover_writes")
MOVED_TRIGGERS_SQL = """
SELECT detail -> 'triggers' AS t FROM colcrypt.migration_events
WHERE migration_id = $1 AND event = 'cutover writes' ORDER BY event_id DESC LIMIT 1
"""

TRIGGERS_SQL = """
SELECT t.tgrelid::regclass::text AS rel, t.tgname FROM pg_trigger t
WHERE (t.tgrelid = $1 OR t.tgrelid IN (SELECT relid FROM pg_partition_tree($1))) AND NOT t.tgisinternal
  AND t.tgname IN ('colcrypt_dual_write', 'colcrypt_truncate') AND t.tgparentid = 0
"""


def rollback(plpy, table: str, oid: int | None, lock_timeout, retries: int) -> dict:
    timeout_s = interval_seconds(plpy, lock_timeout)
    if not timeout_s or timeout_s <= 0 or not retries or not 1 <= retries <= 100:
        fail(plpy, "KC008", f"p_lock_timeout must be positive and p_retries 1-100, not {lock_timeout} and {retries}",
             "The defaults, '200 ms' and 20, bound each application stall to 200 ms.")
    m = live_migration(plpy, table, oid, lock=True)
    require_state(plpy, m, BEFORE_CLEANUP, "rollback")
    jobs = unschedule_all(plpy, m)
    plan = plan_of(plpy, m)
    oids = [m["source_oid"], m["shadow_oid"]] + ([m["view_oid"]] if m["view_oid"] else [])
    result = run_switch(plpy, table, oids, lambda: _undo(plpy, m, plan), timeout_s, retries)
    from_state = m["state"]
    query(plpy, "UPDATE colcrypt.migrations SET name_view = NULL WHERE migration_id = $1", ["int8"],
          [m["migration_id"]])
    set_state(plpy, m, "rolled_back")
    log_event(plpy, m["migration_id"], m["table_name"], "rollback", {"from": from_state, "cron_jobs": jobs, **result})
    return {"from_state": from_state, **result}


def _undo(plpy, m: dict, plan) -> None:
    if m["state"] == "cutover_writes":  # the plaintext table is in step; its own triggers fire there again
        moved = query(plpy, MOVED_TRIGGERS_SQL, ["int8"], [m["migration_id"]])
        for name in json.loads(moved[0]["t"]) if moved else []:
            plpy.execute(f"ALTER TABLE {plan.source} ENABLE TRIGGER {ident(name)}")
        set_direct_writes(plpy, m["source_oid"], m["view_oid"], "GRANT")
    if m["view_oid"]:
        name = m["view_name"]
        view = f"{ident(plan.schema)}.{ident(name)}"
        # (not LOCK TABLE on the view: that locks its base tables with the view owner's privileges;
        # ALTER VIEW below takes the view's own lock)
        plpy.execute(f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")
        dependents = [dict(r) for r in query(plpy, DEPENDENT_VIEWS_SQL, ["oid"], [m["view_oid"]])]
        aside = f"colcrypt_rollback_{int(m['migration_id'])}"
        plpy.execute(f"ALTER VIEW {view} RENAME TO {ident(aside)}")
        plpy.execute(f"ALTER TABLE {plan.source} RENAME TO {ident(name)}")
        for d in dependents:  # their text names the view; now the name is the table again
            options = f" WITH ({d['options']})" if d["options"] else ""
            plpy.execute(f"CREATE OR REPLACE VIEW {d['name']}{options} AS {d['def']}")
        plpy.execute(f"DROP VIEW {ident(plan.schema)}.{ident(aside)}")
        plpy.execute(f"DROP FUNCTION {instead_function_name(m)}()")
    else:
        plpy.execute(f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")
    for t in query(plpy, TRIGGERS_SQL, ["regclass"], [m["source_oid"]]):
        plpy.execute(f"DROP TRIGGER {ident(t['tgname'])} ON {t['rel']}")
    mid = m["migration_id"]
    plpy.execute(f"DROP FUNCTION {generated_function('dual_write', mid)}(), {generated_function('truncate', mid)}()")
    plpy.execute(f"DROP TABLE {plan.shadow}")
