"""Issue 5's acceptance, on a legacy database written apart from colcrypt (tests/fixtures/
cutover_legacy.py, with its own application): while application workers write through the tables'
names the whole time, every target goes reads -> writes -> rollback -> prepare, backfill and
validate again -> reads -> writes -> finalize -> cleanup. After every step (the load paused for
the comparison) the names equal the applications' own record, including what the tables' own
triggers did and what the dependent view shows; no application statement fails, a foreign key
keeps rejecting what it should, no application step takes 1 s or more, and a pg_dump after cleanup
holds none of the migrated columns' plaintext."""

import subprocess
import threading
import time

import psycopg
import pytest

from tests.fixtures import cutover_legacy as legacy

APPS = 3
WORKERS = 2
APP_ROLE = "broker_app"  # roles are per cluster: not the one of test_acceptance
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"
STALL_S = 1.0


class Load:
    """The applications, each in its own thread, with a pause for comparing their record."""

    def __init__(self, apps):
        self.apps, self.errors, self.phase = apps, [], "start"
        self.stop, self.running = threading.Event(), threading.Event()
        self.idle = [threading.Event() for _ in apps]
        self.slowest: dict[str, float] = {}
        self.running.set()
        self.threads = [threading.Thread(target=self._run, args=(i, a)) for i, a in enumerate(apps)]
        for t in self.threads:
            t.start()

    def _run(self, i: int, app) -> None:
        try:
            while not self.stop.is_set():
                if not self.running.is_set():
                    self.idle[i].set()
                    self.running.wait(0.1)
                    continue
                t0 = time.monotonic()
                app.step()
                took = time.monotonic() - t0
                self.slowest[self.phase] = max(self.slowest.get(self.phase, 0.0), took)
        except Exception as e:  # noqa: BLE001 - every failure of the application is the test's finding
            self.errors.append(f"{self.phase}: application {i + 1}: {type(e).__name__}: {e}")
            self.idle[i].set()

    def paused(self, conn, step: str) -> list[str]:
        """Pause, compare the names with the applications' record, resume."""
        for e in self.idle:
            e.clear()
        self.running.clear()
        for e in self.idle:
            assert e.wait(60), f"an application did not pause after {step}"
        problems = legacy.check(conn, self.apps)
        self.phase = f"after {step}"
        self.running.set()
        return problems

    def finish(self) -> None:
        self.stop.set()
        self.running.set()
        for t in self.threads:
            t.join()


def _backfill(dsn: str, table: str, worker: int, errors: list) -> None:
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CALL colcrypt.backfill(%s, p_batch_size => 500, p_worker => %s, p_workers => %s)",
                      (table, worker, WORKERS))
    except psycopg.Error as e:
        errors.append(f"backfill of {table} worker {worker}: {e}")


def _migrate(conn, dsn: str, errors: list) -> None:
    for table, columns in legacy.TARGETS:
        conn.execute("SELECT colcrypt.prepare(%s, %s, 'k')", (table, columns))
    workers = [threading.Thread(target=_backfill, args=(dsn, table, w, errors))
               for table, _ in legacy.TARGETS for w in range(1, WORKERS + 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == [], "\n".join(errors)
    for table, _ in legacy.TARGETS:
        total, valid, *bad = conn.execute("SELECT total, valid, mismatched, missing, orphaned"
                                          " FROM colcrypt.validate(%s)", (table,)).fetchone()
        assert bad == [0, 0, 0] and valid == total > 0, (table, total, valid, bad)


def _each(conn, sql: str) -> list[tuple]:
    return [conn.execute(sql, (table,)).fetchone() for table, _ in legacy.TARGETS]


@pytest.mark.slow
def test_the_whole_cutover_sequence_on_an_unseen_database_under_load(db, conn):
    conn.execute(f"DROP ROLE IF EXISTS {APP_ROLE}")
    conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
    legacy.build(conn)
    legacy.grant_app(conn, APP_ROLE)
    conn.execute("SELECT colcrypt.grant_key('k', %s)", (APP_ROLE,))  # it reads the tables through the names
    app_dsn = db.dsn.replace("user=postgres", f"user={APP_ROLE}")
    apps = [legacy.Application(app_dsn, worker=i, workers=APPS, seed=i) for i in range(1, APPS + 1)]
    load, errors, timings = Load(apps), [], {}
    try:
        time.sleep(2)  # the applications write before the migration starts
        steps = [
            ("migrate", lambda: _migrate(conn, db.dsn, errors)),
            ("reads", lambda: _each(conn, "SELECT stage FROM colcrypt.cutover(%s, 'reads')")),
            ("writes", lambda: _each(conn, "SELECT stage FROM colcrypt.cutover(%s, 'writes')")),
            ("rollback", lambda: _each(conn, "SELECT from_state FROM colcrypt.rollback(%s)")),
            ("migrate again", lambda: _migrate(conn, db.dsn, errors)),
            ("reads again", lambda: _each(conn, "SELECT stage FROM colcrypt.cutover(%s, 'reads')")),
            ("writes again", lambda: _each(conn, "SELECT stage FROM colcrypt.cutover(%s, 'writes')")),
            ("finalize", lambda: _each(conn, "SELECT stage FROM colcrypt.finalize(%s)")),
            ("cleanup", lambda: _each(conn, "SELECT count(*) FROM colcrypt.cleanup(%s, '0')")),
        ]
        for name, run in steps:
            load.phase = name
            t0 = time.monotonic()
            run()
            timings[name] = round(time.monotonic() - t0, 2)
            time.sleep(2)  # the applications work on the new shape
            assert load.errors == [], "\n".join(load.errors)
            assert load.paused(conn, name) == [], name
            print(f"acceptance: {name}: {timings[name]} s, the names equal the applications' record")
        time.sleep(2)
    finally:
        load.finish()
    assert load.errors == [], "\n".join(load.errors)
    states = {r[0] for r in conn.execute("SELECT state FROM colcrypt.migrations WHERE state <> 'rolled_back'")}
    assert states == {"cleaned"}
    assert legacy.check(conn, apps) == []
    counts = {}
    for app in apps:
        for kind, n in app.counts().items():
            counts[kind] = counts.get(kind, 0) + n
        app.close()
    print(f"acceptance: application operations {counts}; slowest application step during and after each step (s) "
          f"{ {k: round(v, 3) for k, v in load.slowest.items()} }")
    assert all(counts.get(k, 0) > 0 for k in ("insert", "update", "update_null", "key_change", "delete", "read",
                                               "fk_rejected")), counts
    assert max(load.slowest.values()) < STALL_S, load.slowest
    assert conn.execute("SELECT count(*) FROM pg_class WHERE relname ~ '_plaintext$'").fetchone() == (0,)
    dump = subprocess.run([PG_DUMP, "--dbname", db.dsn], capture_output=True, text=True, check=True).stdout
    probes = legacy.plaintext_probes(apps)
    assert len(probes) >= 200
    assert [p for p in probes if p in dump] == []
    print(f"acceptance: none of {len(probes)} plaintext probes in a pg_dump of {len(dump):,} characters")
