"""Unattended backfill with pg_cron: one job per worker, every minute, each run stopping before the
next starts. pg_cron cancels a job's running command when the job is removed or deactivated, and
records the run as failed; so a worker whose share is done only *retires* its own job (a schedule
that never fires) and removes the retired jobs of workers that are not running. validate() removes
what is left."""

from colcrypt.migrate.sqlgen import literal
from colcrypt.migrate.state import live_migration, log_event, require_state
from colcrypt.plpy_helpers import fail, interval_seconds

RUN_SECONDS = 50  # of each minute: a run ends before pg_cron starts the next


def job_name(migration_id: int, worker: int) -> str:
    return f"colcrypt-backfill-{int(migration_id)}-{int(worker)}"


def cron_here(plpy) -> bool:
    return plpy.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') AS ok")[0]["ok"]


def command(table: str, worker: int, workers: int, batch_size: int, sleep_s: float) -> str:
    return (f"CALL colcrypt.backfill({literal(table)}, p_batch_size => {int(batch_size)},"
            f" p_max_runtime => '{RUN_SECONDS} seconds', p_sleep => '{float(sleep_s)} seconds',"
            f" p_worker => {int(worker)}, p_workers => {int(workers)})")


def schedule(plpy, table: str, table_oid: int | None, workers: int | None, batch_size: int | None, sleep) -> list[dict]:
    if not workers or not 1 <= workers <= 16:
        fail(plpy, "KC008", f"p_workers must be between 1 and 16, not {workers}",
             "Each worker is one pg_cron job and one backend; 2-4 suit most servers.")
    sleep_s = interval_seconds(plpy, sleep) or 0.0
    m = live_migration(plpy, table, table_oid)
    require_state(plpy, m, ("dual_write", "backfilling"), "schedule_backfill")
    commands = [command(table, w, workers, batch_size or 1000, sleep_s) for w in range(1, workers + 1)]
    if not cron_here(plpy):
        home = plpy.execute("SELECT current_setting('cron.database_name', true) AS d")[0]["d"]
        here = plpy.execute("SELECT current_database() AS d")[0]["d"]
        first = (f"SELECT cron.schedule_in_database({literal(job_name(m['migration_id'], 1))}, '* * * * *', "
                 f"{literal(commands[0])}, {literal(here)});")
        fail(plpy, "KC010", f"pg_cron is not installed in this database ({here})",
             f"pg_cron lives in database {home or '(cron.database_name not set: pg_cron not loaded)'}. Set "
             f"cron.database_name = '{here}' and CREATE EXTENSION pg_cron here, or run in {home}: {first} "
             f"(and likewise for workers 2..{workers}).")
    jobs = []
    for worker, cmd in enumerate(commands, 1):
        name = job_name(m["migration_id"], worker)
        jobid = plpy.execute(plpy.prepare("SELECT cron.schedule($1, '* * * * *', $2) AS id", ["text", "text"]),
                             [name, cmd])[0]["id"]
        jobs.append({"worker": worker, "jobid": jobid, "job_name": name})
    log_event(plpy, m["migration_id"], table, "schedule backfill", {"workers": workers, "jobs": jobs})
    return jobs


def unschedule_all(plpy, m: dict) -> int:
    """Remove the migration's backfill and cleanup jobs; the number removed."""
    if not cron_here(plpy):
        return 0
    pattern = f"colcrypt-backfill-{int(m['migration_id'])}-%"
    rows = plpy.execute(plpy.prepare("SELECT cron.unschedule(jobid) AS ok FROM cron.job"
                                     " WHERE jobname LIKE $1 OR jobname = ANY($2)", ["text", "text[]"]),
                        [pattern, [f"colcrypt-cleanup-{int(m['migration_id'])}", reencrypt_job(m)]])
    if rows:
        log_event(plpy, m["migration_id"], m["table_name"], "unschedule jobs", {"jobs": len(rows)})
    return len(rows)


NEVER = "0 0 31 2 *"  # 31 February: a schedule pg_cron accepts and never fires


def advisory_key(migration_id: int, worker: int) -> str:
    """The session advisory lock a backfill worker holds while it runs."""
    return f"pg_catalog.hashtextextended('colcrypt.backfill.{int(migration_id)}.{int(worker)}', 0)"


def retire_job(plpy, m: dict, worker: int) -> None:
    if cron_here(plpy):
        plpy.execute(plpy.prepare("SELECT cron.alter_job(jobid, schedule => $2) FROM cron.job WHERE jobname = $1",
                                  ["text", "text"]), [job_name(m["migration_id"], worker), NEVER])


def remove_retired(plpy, m: dict, running_worker: int | None = None) -> int:
    """Remove the retired jobs of workers that are not running (their advisory lock is free)."""
    if not cron_here(plpy):
        return 0
    removed = 0
    prefix = f"colcrypt-backfill-{int(m['migration_id'])}-"
    for job in plpy.execute(plpy.prepare("SELECT jobid, jobname FROM cron.job WHERE schedule = $1"
                                         " AND starts_with(jobname, $2)", ["text", "text"]), [NEVER, prefix]):
        worker = int(job["jobname"].removeprefix(prefix))
        if worker == running_worker:
            continue
        key = advisory_key(m["migration_id"], worker)
        if plpy.execute(f"SELECT pg_try_advisory_lock({key}) AS ok")[0]["ok"]:
            plpy.execute(plpy.prepare("SELECT cron.unschedule($1::bigint)", ["int8"]), [job["jobid"]])
            plpy.execute(f"SELECT pg_advisory_unlock({key})")
            removed += 1
    if removed:
        log_event(plpy, m["migration_id"], m["table_name"], "unschedule backfill", {"jobs": removed})
    return removed


def reencrypt_job(m: dict) -> str:
    return f"colcrypt-reencrypt-{int(m['migration_id'])}"


def schedule_reencrypt(plpy, table: str, m: dict, batch_size: int, sleep_s: float) -> int:
    """A pg_cron job re-encrypting table every minute for 50 seconds, until a pass finds nothing left
    (then it retires itself: a schedule that never fires, removed by the next manual pass)."""
    if not cron_here(plpy):
        here = plpy.execute("SELECT current_database() AS d")[0]["d"]
        fail(plpy, "KC010", f"pg_cron is not installed in this database ({here})",
             "Run CALL colcrypt.reencrypt(table) yourself, or install pg_cron here (cron.database_name).")
    command = (f"CALL colcrypt.reencrypt({literal(table)}, p_batch_size => {int(batch_size)},"
               f" p_sleep => '{float(sleep_s)} seconds', p_max_runtime => '{RUN_SECONDS} seconds')")
    jobid = plpy.execute(plpy.prepare("SELECT cron.schedule($1, '* * * * *', $2) AS id", ["text", "text"]),
                         [reencrypt_job(m), command])[0]["id"]
    log_event(plpy, m["migration_id"], m["table_name"], "schedule reencrypt", {"job": reencrypt_job(m)})
    return jobid


def retire_reencrypt_job(plpy, m: dict) -> None:
    remove_or_retire(plpy, reencrypt_job(m))


def remove_or_retire(plpy, job: str) -> None:
    """Remove the job, or only retire it (a schedule that never fires) when this backend is running it:
    pg_cron would cancel a removed job's run."""
    if not cron_here(plpy):
        return
    mine = plpy.execute(plpy.prepare(
        "SELECT EXISTS (SELECT FROM cron.job j JOIN cron.job_run_details r ON r.jobid = j.jobid WHERE j.jobname = $1"
        " AND r.status = 'running' AND r.job_pid = pg_backend_pid()) AS m", ["text"]), [job])[0]["m"]
    sql = ("SELECT cron.alter_job(jobid, schedule => $2) FROM cron.job WHERE jobname = $1" if mine else
           "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = $1 AND $2 <> ''")
    plpy.execute(plpy.prepare(sql, ["text", "text"]), [job, NEVER])
