"""The demo's workflow: every phase of a migration, in order, on the sample database while the application
load runs. Each phase prints what it did; the times per phase and the figures go to the dashboard."""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from colcrypt.demo import sample
from colcrypt.demo.load import Load
from colcrypt.errors import ColcryptError
from colcrypt.install import install
from colcrypt.keys import create_key
from colcrypt.migrate.client import backfill_with_progress
from colcrypt.progress import Progress

DATABASE = "demo"
KEY = "pii"
BASELINE = "before-encryption"
PHASES = 18
REHEARSAL = "shop.payment_methods"  # rolled back from the write stage, then migrated again


@dataclass
class Options:
    scale: float = 1.0
    workers: int = 2
    baseline_seconds: int = 10
    report_dir: Path = Path("colcrypt-demo-report")
    keep: bool = False


@dataclass
class Outcome:
    """What the dashboard shows."""

    phase_times: list[tuple[str, float]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    switches: list[tuple[str, str, float]] = field(default_factory=list)  # table, step, ms
    validations: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    overheads: list[tuple] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stats: object = None
    audit: tuple = ()
    reports: list[Path] = field(default_factory=list)


class Phases:
    def __init__(self, outcome: Outcome):
        self.outcome, self.n = outcome, 0

    @contextmanager
    def __call__(self, title: str):
        self.n += 1
        print(f"\n[{self.n}/{PHASES}] {title}", flush=True)
        started = time.monotonic()
        yield
        took = time.monotonic() - started
        self.outcome.phase_times.append((title, took))
        print(f"  ({took:.1f} s)", flush=True)


def say(text: str) -> None:
    print(f"  {text}", flush=True)


def one(conn, query: str, params=()):
    return conn.execute(query, params).fetchone()


def run_workflow(cluster, options: Options, out: Outcome, loads: list) -> None:
    phase = Phases(out)
    with phase("an embedded throwaway cluster with pg_cron and pg_stat_statements"):
        kek_file = cluster.init_with_local_kek({"cron.database_name": f"'{DATABASE}'"})
        cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as su:
            su.execute(f'CREATE DATABASE "{DATABASE}"')
        cluster.stop()  # pg_cron's launcher connects to cron.database_name when the server starts
        cluster.start()
        dsn = cluster.dsn(DATABASE)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE EXTENSION pg_cron")
            say(install(conn))
        say(f"PostgreSQL 15 in {cluster.data}; KEK file {kek_file} (0600, the server's account only)")

    conn = psycopg.connect(dsn, autocommit=True)
    with conn:
        with phase("the legacy database, plaintext personal data"):
            sample.build(conn, options.scale)
            sample.grant_app(conn)
            for table, columns in sample.TARGETS:
                out.rows[table] = one(conn, sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(*table.split("."))))[0]
                say(f"{table:<28} {out.rows[table]:>9,} rows  sensitive: {', '.join(columns)}")
            say(f"{sum(out.rows.values()):,} rows in the tables to migrate")

        with phase(f"the application starts: {options.workers} workers writing and reading through the names"):
            load = Load(dsn, workers=options.workers)
            loads.append(load)
            load.start()
            time.sleep(2)
            s = load.snapshot()
            say(f"{s.committed:,} transactions committed so far, {s.failed} failed; it runs until the end")

        with phase("discovery of sensitive columns"):
            schemas = sorted({t.split(".")[0] for t, _ in sample.TARGETS})
            found = conn.execute(
                "SELECT schema_name || '.' || table_name, column_name, classification, confidence"
                " FROM colcrypt.discover(%s) ORDER BY 1, 2", (schemas,)).fetchall()
            chosen = {(t, c) for t, cols in sample.TARGETS for c in cols}
            for table, column, kind, confidence in found:
                decision = "encrypt" if (table, column) in chosen else "leave (not chosen)"
                say(f"{table + '.' + column:<36} {kind:<15} confidence {confidence:.2f}  -> {decision}")
            missed = chosen - {(t, c) for t, c, _, _ in found}
            for table, column in sorted(missed):
                say(f"{table + '.' + column:<36} not found by discovery -> encrypt (chosen by the DBA)")

        with phase(f"performance baseline ({options.baseline_seconds} s of the live load)"):
            conn.execute("SELECT colcrypt.capture_baseline(%s, make_interval(secs => %s), p_replace => true)",
                         (BASELINE, options.baseline_seconds))
            say(f"baseline {BASELINE!r} stored in colcrypt.baselines")

        with phase("a data key wrapped by the KEK, granted to the application's role"):
            info = create_key(conn, KEY, kek_file=kek_file)
            for role in ("postgres", sample.APP_ROLE):
                conn.execute("SELECT colcrypt.grant_key(%s, %s)", (KEY, role))
            say(f"key {info['key_id']} version {info['version']} wrapped by {info['kek_ref']}; "
                f"granted to postgres and {sample.APP_ROLE} (server-side unwrapping)")

        with phase("prepare: shadow tables and dual-write triggers"):
            for table, columns in sample.TARGETS:
                shadow = one(conn, "SELECT shadow FROM colcrypt.prepare(%s, %s, %s)", (table, columns, KEY))[0]
                say(f"{table}: every write now also goes, encrypted, to {shadow}")

        with phase("backfill: one table by pg_cron, the others here, with progress bars"):
            cron_table = sample.TARGETS[0][0]
            jobs = conn.execute("SELECT jobid, job_name FROM colcrypt.schedule_backfill(%s, 1, 2000)",
                                (cron_table,)).fetchall()
            for jobid, name in jobs:
                say(f"{cron_table}: pg_cron job {jobid} ({name}) runs the backfill at the next minute")
            for table, _ in sample.TARGETS[1:]:
                backfill_with_progress(dsn, table, 2000, 2, show=True)
                say(f"{table}: backfilled")
            _wait_for_cron(conn, cron_table)

        with phase("validation: decrypt and compare every row"):
            for table, _ in sample.TARGETS:
                _validate(conn, out, table)

        for stage, title in (("reads", "cutover of reads: the names now decrypt"),
                             ("writes", "cutover of writes: the shadows take the writes first")):
            with phase(title):
                for table, _ in sample.TARGETS:
                    _switch(conn, out, table, stage, "SELECT * FROM colcrypt.cutover(%s, %s)", (table, stage))

        with phase("rollback rehearsal: one table back to plaintext, then migrated again"):
            table, columns = next(t for t in sample.TARGETS if t[0] == REHEARSAL)
            _switch(conn, out, table, "rollback", "SELECT * FROM colcrypt.rollback(%s)", (table,))
            conn.execute("SELECT colcrypt.prepare(%s, %s, %s)", (table, columns, KEY))
            backfill_with_progress(dsn, table, 2000, 2, show=True)
            say(f"{table}: prepared and backfilled again")
            _validate(conn, out, table)
            for stage in ("reads", "writes"):
                _switch(conn, out, table, stage, "SELECT * FROM colcrypt.cutover(%s, %s)", (table, stage))

        with phase("finalize: constraints move to the shadows, the plaintext tables are no longer written"):
            for table, _ in sample.TARGETS:
                _switch(conn, out, table, "finalize", "SELECT * FROM colcrypt.finalize(%s)", (table,))

        with phase("cleanup: the plaintext tables are dropped"):
            for table, _ in sample.TARGETS:
                residue = conn.execute("SELECT place FROM colcrypt.cleanup(%s, '0')", (table,)).fetchall()
                say(f"{table}: plaintext table dropped; {len(residue)} places where plaintext may remain "
                    "are listed in the report")

        with phase(f"overheads against the baseline ({options.baseline_seconds} s of the same load)"):
            out.overheads = conn.execute(
                "SELECT metric, baseline, current, change_pct, passed FROM colcrypt.compare_baseline("
                "%s, make_interval(secs => %s))", (BASELINE, options.baseline_seconds)).fetchall()
            say(f"{len(out.overheads)} metrics compared, stored in colcrypt.baseline_comparisons")

        with phase("the application stops; every row it wrote is checked through the names"):
            load.pause()
            out.lost = load.lost(conn)
            out.stats = load.stop()
            loads.clear()
            say(f"{out.stats.committed:,} transactions, {out.stats.failed} failed; "
                f"{len(out.lost)} rows lost or different")

        with phase("the audit trail and the compliance report"):
            out.audit = one(conn, "SELECT events, head_event, problem FROM colcrypt.verify_audit()")
            chain = f"BROKEN: {out.audit[2]}" if out.audit[2] else "intact"
            say(f"event log: {out.audit[0]} events, hash chain {chain}")
            out.reports = _reports(conn, options.report_dir)
            say("report: " + ", ".join(str(p) for p in out.reports))

        with phase("at rest: what the disk holds now, and what the application reads"):
            for table, columns in sample.TARGETS:
                schema, shadow = one(conn, "SELECT n.nspname, c.relname FROM colcrypt.migrations m"
                                           " JOIN pg_class c ON c.oid = m.shadow JOIN pg_namespace n ON n.oid ="
                                           " c.relnamespace WHERE m.table_name = %s AND m.state = 'cleaned'", (table,))
                column = sql.Identifier(f"{columns[0]}_encrypted")
                stored = one(conn, sql.SQL("SELECT {} FROM {} WHERE {} IS NOT NULL LIMIT 1").format(
                    column, sql.Identifier(schema, shadow), column))[0]
                say(f"{schema}.{shadow}.{columns[0]}_encrypted = \\x{bytes(stored)[:16].hex()}... "
                    f"({len(stored)} bytes); {table} serves it decrypted to granted roles")


def _validate(conn, out: Outcome, table: str) -> None:
    total, valid, passed = one(conn, "SELECT total, valid, passed FROM colcrypt.validate(%s)", (table,))
    out.validations[table] = (total, valid, passed)
    say(f"{table}: {valid:,} of {total:,} rows valid")
    if not passed:
        raise ColcryptError("KC008", f"validation of {table} failed",
                            "See SELECT * FROM colcrypt.validations for the keys that differ.")


def _switch(conn, out: Outcome, table: str, step: str, query: str, params) -> None:
    row = one(conn, query, params)
    ms = row[3]
    out.switches.append((table, step, ms))
    say(f"{table}: {step} in {ms:.0f} ms ({row[1]} attempt{'s' if row[1] != 1 else ''})")


def _wait_for_cron(conn, table: str, timeout: float = 150) -> None:
    """The pg_cron job starts on the next minute: show its progress until the table is backfilled."""
    deadline = time.monotonic() + timeout
    bar = None
    while True:
        state, total, done = one(conn, "SELECT p.phase, p.rows_total, p.rows_done FROM colcrypt.progress p"
                                       " JOIN colcrypt.migrations m USING (migration_id)"
                                       " WHERE m.source = %s::regclass", (table,))
        if total:
            bar = bar or Progress(f"backfill {table} (pg_cron)", total, " rows")
            bar.update(min(done, total) if state != "backfilled" else total)
        if state == "backfilled":
            break
        if time.monotonic() > deadline:
            failures = conn.execute("SELECT return_message FROM cron.job_run_details WHERE status = 'failed'"
                                    ).fetchall()
            raise ColcryptError("KC010", f"the pg_cron backfill of {table} did not finish in {timeout:.0f} s",
                                f"Check cron.job_run_details: {failures[:1]}")
        time.sleep(0.5)
    if bar:
        bar.close()
    say(f"{table}: backfilled by pg_cron")


def _reports(conn, directory: Path) -> list[Path]:
    from colcrypt.report import FORMATS, collect, render

    directory.mkdir(parents=True, exist_ok=True)
    data = collect.collect(conn)
    paths = []
    for fmt, extension in FORMATS.items():
        paths.append(directory / f"report.{extension}")
        paths[-1].write_text(render(data, fmt), encoding="utf-8")
    return paths
