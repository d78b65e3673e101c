"""colcrypt.cleanup(table, retain): after finalize, the plaintext table is kept, without grants, for
the retention period (a daily pg_cron job calls cleanup again until it is due), then dropped in one
short switch (its sequences belong to the name since the read cutover: sequences), colcrypt's
triggers and functions go, the constraints finalize moved are validated, and the name keeps
serving the shadow. Returns what it did and where plaintext may still live."""

from colcrypt.migrate.cutover import sequences_to_view
from colcrypt.migrate.finalize import constraint_moves, final_function
from colcrypt.migrate.preflight import ROW_TYPE_USERS_SQL
from colcrypt.migrate.residue import dropped_statistics, residue_of
from colcrypt.migrate.schedule import cron_here, remove_or_retire
from colcrypt.migrate.sqlgen import generated_function, ident, literal
from colcrypt.migrate.state import live_migration, log_event, plan_of, require_state, set_state
from colcrypt.migrate.switch import lock_name, run_switch, switch_timeout
from colcrypt.plpy_helpers import as_owner, execute_one, fail, interval_seconds, query

DUE_SQL = """
SELECT state_changed_at + $2::interval AS due, (state_changed_at + $2::interval <= clock_timestamp()) AS is_due
FROM colcrypt.migrations WHERE migration_id = $1
"""
NOT_VALID_SQL = """
SELECT conrelid::regclass::text AS rel, conrelid::oid AS rel_oid, conname::text AS name FROM pg_constraint
WHERE NOT convalidated AND conparentid = 0 AND (conrelid = $1 OR (contype = 'f' AND confrelid = $1))
"""
DEPENDENTS_SQL = """
SELECT DISTINCT pg_describe_object(d.classid, d.objid, 0) AS what FROM pg_depend d
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype = 'n'
  AND d.classid <> 'pg_constraint'::regclass
  AND NOT (d.classid = 'pg_class'::regclass AND d.objid IN (SELECT relid FROM pg_partition_tree($1)))
  AND NOT (d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT oid FROM pg_rewrite WHERE ev_class = $1))
  AND NOT (d.classid = 'pg_trigger'::regclass AND d.objid IN (SELECT oid FROM pg_trigger WHERE tgrelid = $1))
  AND NOT (d.classid = 'pg_policy'::regclass AND d.objid IN (SELECT oid FROM pg_policy WHERE polrelid = $1))
"""


def job_name(migration_id: int) -> str:
    return f"colcrypt-cleanup-{int(migration_id)}"  # unschedule_all knows it too


def cleanup(plpy, table: str, oid: int | None, retain, lock_timeout, retries: int) -> list[dict]:
    retain_s = interval_seconds(plpy, retain)
    if retain_s is None or retain_s < 0:
        fail(plpy, "KC008", f"p_retain must be zero or more, not {retain}",
             "p_retain is how long the plaintext table is kept after finalize, e.g. '90 days'; '0' drops it now.")
    timeout_s = switch_timeout(plpy, lock_timeout, retries)
    m = live_migration(plpy, table, oid, lock=True)
    require_state(plpy, m, ("finalized",), "cleanup")
    plan = plan_of(plpy, m)
    names = query(plpy, "SELECT $1::regclass::text AS p, $2::regclass::text AS s", ["oid", "oid"],
                  [m["source_oid"], m["shadow_oid"]])[0]
    validated = _validate_moved(plpy, m)
    due = query(plpy, DUE_SQL, ["int8", "text"], [m["migration_id"], retain])[0]
    if not due["is_due"]:
        job = _schedule(plpy, m, table, retain)
        log_event(plpy, m["migration_id"], m["table_name"], "cleanup scheduled",
                  {"due": due["due"], "job": job, "validated": validated})
        when = f"a daily pg_cron job ({job}) drops it then" if job else "call colcrypt.cleanup again then"
        return [{"place": "plaintext table", "detail": f"{names['p']} kept without grants until {due['due']}",
                 "action": f"the retention ends then: {when}; colcrypt.rollback(table) is still possible"}] + \
            residue_of(plpy, m, plan)
    dependents = [r["what"] for r in query(plpy, DEPENDENTS_SQL, ["oid"], [m["source_oid"]])] + \
        [r["what"] for r in query(plpy, ROW_TYPE_USERS_SQL, ["oid"], [m["source_oid"]])]
    if dependents:
        fail(plpy, "KC025", f"{names['p']} cannot be dropped: {', '.join(dependents)} still depend(s) on it (or on "
                            "its row type)",
             "Re-create them on the name (it serves the same rows; a function that returns the table's rows: RETURNS "
             "SETOF the name) or drop them, then run cleanup again.")
    moves = constraint_moves(plpy, m, plan, table)
    statistics = dropped_statistics(plpy, m["source_oid"])
    result = run_switch(plpy, table, [m["source_oid"], m["shadow_oid"], m["view_oid"]],
                        lambda: _drop(plpy, m, plan, moves), timeout_s, retries)
    remove_or_retire(plpy, job_name(m["migration_id"]))
    set_state(plpy, m, "cleaned")
    residue = [{"place": "plaintext table", "detail": f"{names['p']} dropped",
                "action": f"{names['s']} holds the rows, encrypted; the name serves them"}] + \
        residue_of(plpy, m, plan, dropped=names["p"], statistics=statistics)
    log_event(plpy, m["migration_id"], m["table_name"], "cleanup",
              {**result, "dropped": names["p"], "validated": validated, "statistics": statistics,
               "residue": residue})  # what the report and plaintext_residue() show: the plaintext table is gone
    return residue


def _validate_moved(plpy, m: dict) -> list[str]:
    """VALIDATE the constraints finalize added NOT VALID: a scan, but under a lock that lets reads and
    writes go on."""
    done = []
    before = plpy.execute("SELECT current_setting('colcrypt.allow_ddl') AS d")[0]["d"]
    for r in query(plpy, NOT_VALID_SQL, ["oid"], [m["shadow_oid"]]):
        plpy.execute("SET LOCAL colcrypt.allow_ddl = on")  # colcrypt's own DDL passes its guard
        # as the owner of the table: a CHECK's expression is the owner's, and runs with its rights only
        as_owner(plpy, r["rel_oid"], f"ALTER TABLE {r['rel']} VALIDATE CONSTRAINT {ident(r['name'])}")
        query(plpy, "SELECT set_config('colcrypt.allow_ddl', $1, true)", ["text"], [before])
        done.append(f"{r['rel']}.{r['name']}")
    return done


def _drop(plpy, m: dict, plan, moves: dict) -> None:
    lock_name(plpy, m["view_oid"])
    execute_one(plpy, f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")
    sequences_to_view(plpy, m, plan.source)  # before they go with the table
    plan = plan_of(plpy, m)
    execute_one(plpy, f"DROP TABLE {plan.source}")
    mid = m["migration_id"]
    execute_one(plpy, f"DROP FUNCTION {generated_function('dual_write', mid)}(),"
                      f" {generated_function('truncate', mid)}()")
    execute_one(plpy, final_function(plpy, m, plan, moves))


def _schedule(plpy, m: dict, table: str, retain: str) -> str | None:
    if not cron_here(plpy):
        return None
    name = job_name(m["migration_id"])
    command = f"SELECT * FROM colcrypt.cleanup({literal(table)}, {literal(retain)})"
    if not plpy.execute(plpy.prepare("SELECT FROM cron.job WHERE jobname = $1", ["text"]), [name]):
        plpy.execute(plpy.prepare("SELECT cron.schedule($1, '17 3 * * *', $2)", ["text", "text"]), [name, command])
    return name
