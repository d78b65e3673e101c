"""CALL colcrypt.backfill(): copy the rows that existed before the triggers, encrypted, in key-order
batches, one transaction per batch with its checkpoint, for one worker's share of the key space.

Safe against the application by construction (docs/migration.md): rows are locked FOR KEY SHARE
while copied, the copy never overwrites what a trigger wrote, and the batch is the side that gives
up on a lock conflict (short lock_timeout, smaller batch, retry). Resumable: a batch and its
checkpoint commit together, so a killed backend or a restart loses at most the batch in flight.
"""

import random
import time

from colcrypt.migrate.schedule import advisory_key, remove_retired, retire_job
from colcrypt.migrate.sqlgen import backfill_batch, count_up_to, sample_keys, upper_key
from colcrypt.migrate.state import live_migration, log_event, plan_of, require_state, set_state
from colcrypt.plpy_helpers import as_owner, caller_table, commit, fail, interval_seconds, pin, query

MIN_BATCH, MAX_BATCH = 50, 50000
# lock_not_available, deadlock_detected, serialization_failure, unique_violation (a trigger wrote the
# row after the batch looked): the batch gives way and is retried.
RETRYABLE = {"55P03", "40P01", "40001", "23505"}
LOCK_TIMEOUT = "100ms"


def _split(plpy, m: dict, plan, workers: int, upper: list[str]) -> list[tuple]:
    """workers ranges (exclusive lower, inclusive upper) that cover every key up to upper."""
    if workers == 1:
        return [(None, upper)]
    estimate = query(plpy, "SELECT greatest(reltuples, 1) AS r FROM pg_class WHERE oid = $1", ["oid"],
                  [m["source_oid"]])[0]["r"]
    percent = min(100.0, 100.0 * 20000 / estimate)
    keys = [r["k"] for r in as_owner(plpy, m["source_oid"], sample_keys(plan), ["float8", "text[]"], [percent, upper])]
    bounds = [keys[len(keys) * i // workers] for i in range(1, workers)] if len(keys) >= workers else []
    bounds = [b for i, b in enumerate(bounds) if b != upper and (i == 0 or b != bounds[i - 1])]
    edges = [None, *bounds, upper]
    ranges = [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    return ranges + [(upper, upper)] * (workers - len(ranges))  # too few distinct keys: empty ranges


def _ensure_ranges(plpy, table: str, oid: int, workers: int) -> dict:
    """The migration, with its key ranges created on the first run (upper bound read now, after the
    triggers committed, so every later insert is the triggers' to copy)."""
    m = live_migration(plpy, table, oid, lock=True)
    require_state(plpy, m, ("dual_write", "backfilling", "backfilled"), "backfill")
    have = plpy.execute("SELECT count(*) AS n FROM colcrypt.backfill_ranges"
                        f" WHERE migration_id = {int(m['migration_id'])}")[0]["n"]
    if have and have != workers:
        fail(plpy, "KC008", f"the backfill of {table} was split between {have} workers, not {workers}",
             f"Pass p_workers => {have} (and a p_worker from 1 to {have}) to continue it.")
    if not have:
        plan = plan_of(plpy, m)
        top = as_owner(plpy, m["source_oid"], upper_key(plan))
        upper = top[0]["k"] if top else None
        total = as_owner(plpy, m["source_oid"], count_up_to(plan), ["text[]"], [upper])[0]["n"] if upper else 0
        ranges = _split(plpy, m, plan, workers, upper) if upper else [(None, None)] * workers
        for worker, (low, high) in enumerate(ranges, 1):
            query(plpy, "INSERT INTO colcrypt.backfill_ranges (migration_id, worker, lower_key, upper_key, checkpoint,"
                     " done) VALUES ($1, $2, $3, $4, $3, $5)", ["int8", "int4", "text[]", "text[]", "bool"],
               [m["migration_id"], worker, low, high, high is None or low == high])
        query(plpy, "UPDATE colcrypt.migrations SET upper_key = $2, rows_total = $3 WHERE migration_id = $1",
           ["int8", "text[]", "int8"], [m["migration_id"], upper, total])
        log_event(plpy, m["migration_id"], m["table_name"], "backfill ranges",
                  {"workers": workers, "rows_total": total})
    if m["state"] == "dual_write":
        set_state(plpy, m, "backfilling")
    return m


def _finish_if_done(plpy, m: dict) -> None:
    """The last worker to finish marks the migration backfilled."""
    fresh = live_migration(plpy, m["table_name"], m["source_oid"], lock=True)
    left = plpy.execute(f"SELECT count(*) AS n FROM colcrypt.backfill_ranges WHERE migration_id ="
                        f" {int(m['migration_id'])} AND NOT done")[0]["n"]
    if left == 0 and fresh["state"] == "backfilling":
        set_state(plpy, fresh, "backfilled")


def _share_done(plpy, m: dict, worker: int) -> bool:
    return plpy.execute(f"SELECT done FROM colcrypt.backfill_ranges WHERE migration_id = {int(m['migration_id'])}"
                        f" AND worker = {int(worker)}")[0]["done"]


def _replication_lag(plpy) -> float:
    return plpy.execute("SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 AS s"
                        " FROM pg_stat_replication")[0]["s"]


def backfill(plpy, table, batch_size, max_runtime, sleep, worker, workers, target_batch, max_lag) -> None:
    started = time.monotonic()
    oid = caller_table(plpy, table)
    pin(plpy)
    if plpy.execute("SELECT pg_is_in_recovery() AS r")[0]["r"]:
        fail(plpy, "25006", "the backfill does not run on a standby",
             "Run it on the primary; the shadow table reaches standbys by replication.")
    if not workers or not worker or not 1 <= worker <= workers or workers > 64:
        fail(plpy, "KC008", f"p_worker must be between 1 and p_workers (1-64), not {worker} of {workers}",
             "Split the work with p_workers => N and run p_worker => 1 .. N, or let schedule_backfill do it.")
    if not batch_size or not MIN_BATCH <= batch_size <= MAX_BATCH:
        fail(plpy, "KC008", f"p_batch_size must be between {MIN_BATCH} and {MAX_BATCH}, not {batch_size}",
             "The default, 1000, adapts itself toward p_target_batch.")
    runtime_s, sleep_s = interval_seconds(plpy, max_runtime), interval_seconds(plpy, sleep) or 0.0
    target_ms, max_lag_s = 1000 * interval_seconds(plpy, target_batch), interval_seconds(plpy, max_lag)
    if target_ms <= 0 or sleep_s < 0 or (runtime_s is not None and runtime_s <= 0):
        fail(plpy, "KC008", "p_target_batch and p_max_runtime must be positive, p_sleep not negative",
             "For example p_target_batch => '200 ms', p_max_runtime => '50 seconds', p_sleep => '0'.")
    m = live_migration(plpy, table, oid)
    got = plpy.execute(f"SELECT pg_try_advisory_lock({advisory_key(m['migration_id'], worker)}) AS ok")[0]["ok"]
    if not got:
        plpy.notice(f"colcrypt: worker {worker} of the backfill of {table} is already running; nothing to do")
        return
    try:
        m = _ensure_ranges(plpy, table, oid, workers)
        commit(plpy)
        if not _share_done(plpy, m, worker):
            _run(plpy, m, worker, batch_size, started, runtime_s, sleep_s, target_ms, max_lag_s)
        if _share_done(plpy, m, worker):
            _finish_if_done(plpy, m)  # first: it locks the migration row before any event row refers to it
            retire_job(plpy, m, worker)
            remove_retired(plpy, m, running_worker=worker)
            commit(plpy)
    finally:
        plpy.execute(f"SELECT pg_advisory_unlock({advisory_key(m['migration_id'], worker)})")


def _update_range(plpy, key: list, assignments: str, types: list[str] = (), args: list = ()) -> dict:
    """UPDATE this worker's row of colcrypt.backfill_ranges (key: [migration_id, worker]); the
    statement's plan is kept, so the per-batch bookkeeping is not planned again every batch. The
    assignments name their parameters from $3 on."""
    return query(plpy, f"UPDATE colcrypt.backfill_ranges SET {assignments} WHERE migration_id = $1 AND worker = $2"
                       " RETURNING *", ["int8", "int4", *types], [*key, *args])[0]


def _run(plpy, m, worker, batch_size, started, runtime_s, sleep_s, target_ms, max_lag_s) -> None:
    plan = plan_of(plpy, m)
    first, after = backfill_batch(plan, with_lower=False), backfill_batch(plan, with_lower=True)
    mid = m["migration_id"]
    key = [mid, worker]
    r = _update_range(plpy, key, "started_at = coalesce(started_at, clock_timestamp()), throttled = NULL")
    size, checkpoint = r["batch_size"] if r["batches"] else batch_size, r["checkpoint"]
    commit(plpy)
    backoff, batches = 0.05, 0
    while not r["done"]:
        if runtime_s is not None and batches and time.monotonic() - started >= runtime_s:
            return  # at least one batch a call, so that even a tiny p_max_runtime makes progress
        state = query(plpy, "SELECT paused, pause_reason, state FROM colcrypt.migrations WHERE migration_id = $1",
                      ["int8"], [mid])[0]
        if state["paused"] or state["state"] != "backfilling":
            why = f"paused: {state['pause_reason'] or 'colcrypt.pause()'}" if state["paused"] else state["state"]
            _update_range(plpy, key, "throttled = $3", ["text"], [why])
            commit(plpy)
            plpy.notice(f"colcrypt: backfill of {m['table_name']} worker {worker} stopped ({why})")
            return
        if max_lag_s is not None and (lag := _replication_lag(plpy)) > max_lag_s:
            _update_range(plpy, key, "throttled = $3", ["text"], [f"replication lag {lag:.1f} s > {max_lag_s:.0f} s"])
            commit(plpy)
            plpy.execute("SELECT pg_sleep(1)")
            continue
        t0 = time.monotonic()
        try:
            with plpy.subtransaction():
                plpy.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                plpy.execute("SET LOCAL work_mem = '64MB'")  # the batch stays in memory
                # as the table's owner: its triggers, defaults and index expressions never run as the DBA
                res = as_owner(plpy, m["source_oid"], first if checkpoint is None else after,
                               ["text[]", "text[]", "int4"], [checkpoint, r["upper_key"], size])[0]
                elapsed_ms = 1000 * (time.monotonic() - t0)
                done = res["rows_read"] == 0 or res["last_key"] == r["upper_key"]
                if res["last_key"] is not None:
                    checkpoint = res["last_key"]
                r = _update_range(plpy, key, "checkpoint = $3, rows_done = rows_done + $4, batches = batches + 1,"
                                  " batch_size = $5, done = $6, last_batch_at = clock_timestamp(), last_batch_ms = $7,"
                                  " busy_ms = busy_ms + $7, throttled = NULL, last_error = NULL",
                                  ["text[]", "int8", "int4", "bool", "float8"],
                                  [checkpoint, res["rows_read"], size, done, elapsed_ms])
        except plpy.SPIError as e:
            now = query(plpy, "SELECT state FROM colcrypt.migrations WHERE migration_id = $1", ["int8"], [mid])[0]
            if now["state"] != "backfilling":  # rolled back meanwhile (its shadow gone): stop, it is not an error
                plpy.notice(f"colcrypt: backfill of {m['table_name']} worker {worker} stopped ({now['state']})")
                return
            if getattr(e, "sqlstate", None) not in RETRYABLE:
                _update_range(plpy, key, "last_error = $3", ["text"], [str(e).splitlines()[0][:500]])
                log_event(plpy, mid, m["table_name"], "backfill error", {"worker": worker, "error": str(e)[:500]},
                          "error")
                commit(plpy)
                raise
            # The application holds a lock the batch needs: the batch gives way, smaller, after a pause.
            size = max(MIN_BATCH, size // 2)
            _update_range(plpy, key, "retries = retries + 1, throttled = $3, batch_size = $4", ["text", "int4"],
                          [f"lock conflict ({e.sqlstate}); retrying with {size} rows", size])
            commit(plpy)
            plpy.execute(f"SELECT pg_sleep({backoff * (0.5 + random.random()):.3f})")  # noqa: S311 - jitter
            backoff = min(2.0, backoff * 2)
            continue
        commit(plpy)
        backoff, batches = 0.05, batches + 1
        # Toward the target batch duration, at most doubling or halving each time.
        size = int(min(MAX_BATCH, max(MIN_BATCH, size * min(2.0, max(0.5, target_ms / max(elapsed_ms, 1.0))))))
        if sleep_s:
            plpy.execute(f"SELECT pg_sleep({sleep_s})")
