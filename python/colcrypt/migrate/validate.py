"""colcrypt.validate(): decrypt every shadow value (or a sample) and compare it with the source in
one snapshot; store and return the counts with example keys."""

import json
import time

from colcrypt.migrate.schedule import remove_retired
from colcrypt.migrate.sqlgen import validation
from colcrypt.migrate.state import live_migration, log_event, plan_of, require_state, set_state
from colcrypt.plpy_helpers import as_owner, fail

AFTER_BACKFILL = ("backfilled", "validated", "cutover_reads", "cutover_writes")


def validate(plpy, table: str, oid: int | None, sample_size: int | None) -> dict:
    if sample_size is not None and sample_size < 1:
        fail(plpy, "KC008", f"p_sample_size must be positive or NULL (every row), not {sample_size}",
             "Pass NULL to compare every row, or a number of rows to sample, e.g. 10000.")
    m = live_migration(plpy, table, oid)
    require_state(plpy, m, AFTER_BACKFILL, "validate")
    plan = plan_of(plpy, m)
    started = time.monotonic()
    # decrypted with the table owner's key grant, as the owner (its policies, casts and types never run as the DBA)
    if sample_size is None:
        r = as_owner(plpy, m["source_oid"], validation(plan, sampled=False))[0]
    else:
        estimate = plpy.execute(plpy.prepare("SELECT greatest(reltuples, 1) AS n FROM pg_class WHERE oid = $1",
                                             ["oid"]), [m["source_oid"]])[0]["n"]
        percent = min(100.0, 100.0 * 3 * sample_size / estimate)
        r = as_owner(plpy, m["source_oid"], validation(plan, sampled=True), ["float8", "int8"],
                     [percent, sample_size])[0]
    seconds = time.monotonic() - started
    examples = {k: r[f"{k}_keys"] or [] for k in ("mismatched", "missing", "orphaned")}
    passed = r["mismatched"] == 0 and r["missing"] == 0 and r["orphaned"] == 0
    row = plpy.execute(plpy.prepare(
        "INSERT INTO colcrypt.validations (migration_id, table_name, sample_size, total, valid, mismatched, missing,"
        " orphaned, examples, seconds, passed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)"
        " RETURNING *", ["int8", "text", "int4", "int8", "int8", "int8", "int8", "int8", "text", "float8", "bool"]),
        [m["migration_id"], m["table_name"], sample_size, r["total"], r["valid"], r["mismatched"], r["missing"],
         r["orphaned"], json.dumps(examples), seconds, passed])[0]
    log_event(plpy, m["migration_id"], m["table_name"], "validate",
              {"validation_id": row["validation_id"], "sample_size": sample_size, "total": r["total"],
               "mismatched": r["mismatched"], "missing": r["missing"], "orphaned": r["orphaned"]},
              "ok" if passed else "failed")
    if passed and sample_size is None and m["state"] == "backfilled":
        set_state(plpy, m, "validated")
    remove_retired(plpy, m)  # the backfill's last pg_cron job could not remove itself
    return row
