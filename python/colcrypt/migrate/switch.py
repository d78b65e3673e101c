"""A switch of a table's name (cutover, rollback) as one short step under a lock timeout: refused up
front when a long transaction holds the table, retried with jittered back-off when the lock is not
free at once, so that applications queue behind it for at most the lock timeout each attempt."""

import random
import time

from colcrypt.plpy_helpers import execute_one, fail, interval_seconds, query

RETRYABLE = {"55P03", "40P01"}  # lock_not_available, deadlock_detected

HOLDERS_SQL = """
SELECT DISTINCT a.pid, a.usename::text AS usename, a.state,
       round(extract(epoch FROM clock_timestamp() - a.xact_start)::numeric, 1)::float8 AS age_s,
       left(a.query, 60) AS query
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.relation = ANY($1) AND l.pid <> pg_backend_pid()
  AND a.xact_start < clock_timestamp() - make_interval(secs => $2)
ORDER BY age_s DESC
"""


def switch_timeout(plpy, lock_timeout, retries: int) -> float:
    """p_lock_timeout in seconds, after checking it and p_retries (KC008)."""
    timeout_s = interval_seconds(plpy, lock_timeout)
    if not timeout_s or timeout_s <= 0 or not retries or not 1 <= retries <= 100:
        fail(plpy, "KC008", f"p_lock_timeout must be positive and p_retries 1-100, not {lock_timeout} and {retries}",
             "The defaults, '200 ms' and 20, bound each application stall to 200 ms.")
    return timeout_s


def long_holders(plpy, oids: list[int], older_than_s: float) -> list[dict]:
    return [dict(r) for r in query(plpy, HOLDERS_SQL, ["oid[]", "float8"], [oids, older_than_s])]


def run_switch(plpy, name: str, oids: list[int], steps, lock_timeout_s: float, retries: int) -> dict:
    """steps() in a subtransaction with SET LOCAL lock_timeout and colcrypt's DDL guard off (both
    restored afterwards); its locks are kept until the caller's transaction commits (right after,
    for a function called on its own). Returns the attempts, the time spent waiting, and how long
    the successful attempt took."""
    budget = lock_timeout_s * retries + 2.0 * retries  # every attempt's timeout plus its back-off, at most
    holders = long_holders(plpy, oids, max(5.0, budget))
    if holders:
        who = "; ".join(f"pid {h['pid']} ({h['usename']}, {h['state']}, open {h['age_s']} s: {h['query']!r})"
                        for h in holders[:5])
        fail(plpy, "KC021", f"long-running transactions hold locks on {name}: {who}",
             "The switch needs a moment's exclusive lock. Let them finish, or end them with "
             "pg_terminate_backend(pid), then try again.")
    started, backoff = time.monotonic(), 0.05
    before = plpy.execute("SELECT current_setting('lock_timeout') AS t,"
                          " coalesce(current_setting('colcrypt.allow_ddl', true), 'off') AS d")[0]
    for attempt in range(1, retries + 1):
        t0 = time.monotonic()
        try:
            with plpy.subtransaction():
                plpy.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
                plpy.execute("SET LOCAL colcrypt.allow_ddl = on")  # the switch's own DDL passes colcrypt's guard
                steps()
                query(plpy, "SELECT set_config('lock_timeout', $1, true), set_config('colcrypt.allow_ddl', $2, true)",
                      ["text", "text"], [before["t"], before["d"]])
            return {"attempts": attempt, "waited_ms": round(1000 * (t0 - started)),
                    "switch_ms": round(1000 * (time.monotonic() - t0), 1)}
        except plpy.SPIError as e:
            if getattr(e, "sqlstate", None) not in RETRYABLE or attempt == retries:
                if getattr(e, "sqlstate", None) in RETRYABLE:
                    fail(plpy, "KC021", f"could not lock {name} within {retries} attempts of "
                                        f"{int(lock_timeout_s * 1000)} ms",
                         "The application holds it busy: try again at a quieter moment, or with a longer "
                         "p_lock_timeout (the longest an application statement may wait for the switch).")
                raise
        plpy.execute(f"SELECT pg_sleep({backoff * (0.5 + random.random()):.3f})")  # noqa: S311 - jitter
        backoff = min(2.0, backoff * 2)
    raise AssertionError("unreachable")


def lock_name(plpy, view_oid: int) -> None:
    """Take the name's own lock first, as every statement through it does: statements in flight
    finish with the functions and triggers they started with, later ones queue and then see the
    switch's. (LOCK TABLE on a view would lock its base tables with the view owner's privileges; a
    no-op ALTER takes the view's lock alone.)"""
    v = plpy.execute(f"SELECT {int(view_oid)}::regclass::text AS v, relowner::regrole::text AS o FROM pg_class"
                     f" WHERE oid = {int(view_oid)}")[0]
    execute_one(plpy, f"ALTER VIEW {v['v']} OWNER TO {v['o']}")


# The names of migrated tables (to the end: a cleaned migration's name still reads its shadow)
# whose shadow or plaintext table is among $1.
NAMES_OF_SQL = """
SELECT DISTINCT m.name_view::oid AS v FROM colcrypt.migrations m
WHERE m.name_view IS NOT NULL AND m.state <> 'rolled_back' AND (m.source = ANY($1) OR m.shadow = ANY($1))
ORDER BY 1
"""


def lock_names_of(plpy, oids: list[int], but: int | None = None) -> None:
    """lock_name for the names of other migrated tables a switch alters (through their foreign keys):
    a statement through such a name holds its shadow's lock from the start and takes a stronger one
    inside the name's trigger, which would deadlock with the switch's."""
    for r in query(plpy, NAMES_OF_SQL, ["oid[]"], [[int(o) for o in oids]]):
        if r["v"] != but:
            lock_name(plpy, r["v"])
