"""The colcrypt command line: one short command per workflow verb over the SQL API."""

import argparse
import json
import sys
import time
from pathlib import Path

import psycopg

from colcrypt import __version__
from colcrypt.dsn import resolve
from colcrypt.errors import ColcryptError
from colcrypt.report import FORMATS as REPORT_FORMATS


def _connect(args) -> psycopg.Connection:
    return psycopg.connect(resolve(args.dsn), autocommit=True)


def cmd_install(args) -> None:
    from colcrypt.install import install, preload_note

    with _connect(args) as conn:
        print(f"colcrypt: {install(conn)}")
        note = preload_note(conn)
        if note:
            print(f"colcrypt: note: {note}")


def cmd_keys_create(args) -> None:
    from colcrypt import providers
    from colcrypt.keys import create_key

    providers.require_client(args.provider)  # before connecting: what to install comes first
    with _connect(args) as conn:
        info = create_key(conn, args.key_id, args.provider, args.kek_file, args.kek)
    if info["kek_file_created"]:
        print(f"colcrypt: created a new KEK file {info['kek_file']} (mode 0600): back it up; "
              "without it no key wrapped by it can be unwrapped")
    print(f"colcrypt: created key {info['key_id']} version {info['version']} "
          f"(provider {info['provider']}, KEK {info['kek_ref']}); only its wrapped form is stored")


def cmd_keys_rewrap(args) -> None:
    from colcrypt import providers
    from colcrypt.keys import rewrap_key

    providers.require_client(args.provider)
    with _connect(args) as conn:
        done = rewrap_key(conn, args.key_id, args.provider, args.kek, args.kek_file, args.old_kek_file)
    for d in done:
        print(f"colcrypt: key {d['key_id']} version {d['version']} now wrapped by {d['provider']} KEK {d['kek_ref']};"
              " no value re-encrypted")


def cmd_keys_rotate(args) -> None:
    from colcrypt.keys import rotate_key

    with _connect(args) as conn:
        info = rotate_key(conn, args.key_id, args.kek_file)
        print(f"colcrypt: key {info['key_id']} version {info['version']} is active; version {info['retired']} is "
              "retired (still decrypts). Sessions that load the key from now on encrypt with the new version.")
        for table in args.reencrypt or []:
            conn.execute("CALL colcrypt.reencrypt(%s)", (table,))
            print(f"colcrypt: {table}: values re-encrypted under version {info['version']}")
        if not args.reencrypt:
            print("colcrypt: move existing values with CALL colcrypt.reencrypt('table') for each table using the key")


def cmd_keys_destroy(args) -> int:
    from colcrypt.keys import destroy_key

    what = f"version {args.version} of key {args.key_id}" if args.version else f"every version of key {args.key_id}"
    with _connect(args) as conn:
        used = conn.execute("SELECT coalesce(sum(value_count), 0) FROM colcrypt.key_usage(%s)"
                            " WHERE %s::int IS NULL OR version = %s", (args.key_id, args.version, args.version)
                            ).fetchone()[0]
    print(f"colcrypt: {used:,} value(s) in migrated tables are encrypted under {what}", file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"colcrypt: refusing to destroy {what} without --yes (no terminal to confirm on)", file=sys.stderr)
            return 1
        answer = input(f"Destroy {what}? Values encrypted with it become unreadable, for ever. "
                       f"Type the key id to confirm: ")
        if answer.strip() != args.key_id:
            print("colcrypt: not confirmed; nothing destroyed", file=sys.stderr)
            return 1
    with _connect(args) as conn:
        n = destroy_key(conn, args.key_id, args.version)
    print(f"colcrypt: destroyed {n} version(s) of key {args.key_id}; values under them can no longer be decrypted. "
          "Sessions holding the key keep it until they end or run DISCARD ALL; keyring backups still hold it.")
    return 0


def cmd_keys_list(args) -> None:
    from colcrypt.keys import list_keys

    with _connect(args) as conn:
        rows = list_keys(conn)
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=2))
        return
    cols = ["key_id", "version", "provider", "kek_ref", "state", "encryptions", "key_check_value"]
    _print_table(cols, [[str(r[c]) for c in cols] for r in rows])


def cmd_keys_grant(args) -> None:
    with _connect(args) as conn:
        conn.execute("SELECT colcrypt.grant_key(%s, %s)", (args.key_id, args.role))
    print(f"colcrypt: role {args.role} may now use key {args.key_id} (unwrapped server-side on first use)")


def cmd_keys_revoke(args) -> None:
    with _connect(args) as conn:
        had = conn.execute("SELECT colcrypt.revoke_key(%s, %s)", (args.key_id, args.role)).fetchone()[0]
    print(f"colcrypt: {'revoked' if had else 'there was no'} grant of key {args.key_id} to {args.role}")


def cmd_discover(args) -> None:
    with _connect(args) as conn:
        cur = conn.execute(
            "SELECT schema_name AS schema, table_name AS table, column_name AS column, data_type, classification,"
            " confidence, match_ratio, sample_size, estimated_rows, match_kind, reason"
            " FROM colcrypt.discover(%s, %s, make_interval(secs => %s)) ORDER BY 1, 2, 3",
            (args.schema or None, args.sample_size, args.table_budget))
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif args.format == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=names)
        writer.writeheader()
        writer.writerows({**r, "reason": json.dumps(r["reason"], ensure_ascii=False)} for r in rows)
    else:
        cols = ["schema", "table", "column", "classification", "confidence", "match_ratio", "match_kind"]
        _print_table(cols, [[str(r[c]) for c in cols] for r in rows])
        print(f"\n{len(rows)} sensitive column(s); details with --format json")


def cmd_baseline(args) -> int:
    """Measure a window driven from here (idle wait or replayed workload), then store or compare."""
    import time

    from colcrypt.baseline.metrics import thresholds_with
    from colcrypt.baseline.workload import replay, statements
    from colcrypt.progress import Progress

    thresholds = {k: v for k, v in (("latency", args.latency), ("throughput", args.throughput),
                                    ("cpu", args.cpu)) if v is not None}
    try:  # everything that can be checked is checked before the window, not after it
        thresholds_with(thresholds)
    except ValueError as e:
        raise ColcryptError("KC008", f"bad threshold: {e}", "Percentages, e.g. --latency 10 --throughput -10.") from e
    if not 1 <= args.duration <= 3600 or args.clients < 1:
        raise ColcryptError("KC008", f"--duration must be 1-3600 seconds and --clients at least 1, not "
                                     f"{args.duration} and {args.clients}", "The default window is 60 seconds.")
    sql = statements(args.workload) if args.workload else None
    dsn = resolve(args.dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT EXISTS (SELECT FROM colcrypt.baselines WHERE label = %s)",
                              (args.label,)).fetchone()[0]
        if args.compare and not exists:
            raise ColcryptError("KC013", f"there is no baseline {args.label!r}",
                                "Capture it first: colcrypt baseline --label LABEL.")
        if exists and not args.compare and not args.replace:
            raise ColcryptError("KC012", f"baseline {args.label!r} already exists",
                                "Choose another --label, or pass --replace to measure it again.")
        start = conn.execute("SELECT colcrypt.baseline_snapshot()").fetchone()[0]
        if sql:
            workload = replay(dsn, sql, args.duration, args.clients, progress=args.format == "table")
            if workload["calls"] == 0:
                raise ColcryptError("KC008", f"no statement of the workload succeeded; the first error: "
                                             f"{workload['first_error']}",
                                    "Run the statements of the workload file by hand and fix them.")
        else:
            workload = None
            bar = Progress("measuring", args.duration, "s") if args.format == "table" else None
            deadline = time.monotonic() + args.duration
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(0.5, left))
                if bar:
                    bar.update(args.duration - max(0.0, deadline - time.monotonic()))
            if bar:
                bar.close()
        params = (args.label, json.dumps(thresholds) if thresholds else None, json.dumps(start),
                  json.dumps(workload) if workload else None)
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        if args.compare:
            cur = conn.execute("SELECT metric, baseline, current, change_pct, limit_pct, passed, recommendation"
                               " FROM colcrypt.compare_baseline(%s, p_thresholds => %s::jsonb,"
                               " p_start => %s::jsonb, p_workload => %s::jsonb)", params)
            rows = [dict(zip([d.name for d in cur.description], r, strict=True)) for r in cur.fetchall()]
        else:
            cur = conn.execute("SELECT label, window_s, metrics, thresholds, notes FROM colcrypt.capture_baseline("
                               "%s, p_thresholds => %s::jsonb, p_start => %s::jsonb, p_workload => %s::jsonb,"
                               " p_replace => %s)", (*params, args.replace))
            label, window_s, metrics, limits, notes = cur.fetchone()
    if workload and workload["errors"]:
        print(f"colcrypt: {workload['errors']} workload statement(s) failed, first: {workload['first_error']}",
              file=sys.stderr)
    if args.compare:
        failed = [r["metric"] for r in rows if r["passed"] is False]
        if args.format == "json":
            print(json.dumps({"label": args.label, "results": rows, "notes": notices}, indent=2))
        else:
            cols = ["metric", "baseline", "current", "change_pct", "limit_pct", "passed"]
            _print_table(cols, [["" if r[c] is None else str(r[c]) for c in cols] for r in rows])
            for r in rows:
                if r["passed"] is False:
                    print(f"- {r['metric']}: {r['recommendation']}")
            for note in notices:
                print(f"note: {note}")
            print(f"\ncolcrypt: {'FAILED: ' + ', '.join(failed) if failed else 'no metric beyond its threshold'}"
                  f" (against baseline {args.label!r})")
        return 3 if failed else 0
    if args.format == "json":
        print(json.dumps({"label": label, "window_s": window_s, "metrics": metrics, "thresholds": limits,
                          "notes": notes}, indent=2))
    else:
        from colcrypt.baseline.metrics import ORDER

        shown = [k for k in ORDER if k in metrics] + sorted(set(metrics) - set(ORDER))
        _print_table(["metric", "value"], [[k, str(metrics[k])] for k in shown])
        for note in notes:
            print(f"note: {note}")
        print(f"\ncolcrypt: stored baseline {label!r} ({window_s:.1f} s window); thresholds {json.dumps(limits)}")
    return 0


def cmd_prepare(args) -> None:
    with _connect(args) as conn:
        mid, shadow, key = conn.execute("SELECT * FROM colcrypt.prepare(%s, %s, %s, %s)",
                                        (args.table, args.columns, args.key, args.blind_index or [])).fetchone()
    print(f"colcrypt: migration {mid}: {args.table} now writes every change to {shadow} "
          f"(encrypted with key {args.key}; rows found by {', '.join(key)}); next: colcrypt backfill {args.table}")


def cmd_backfill(args) -> None:
    from colcrypt.migrate.client import backfill_with_progress

    if args.schedule:
        with _connect(args) as conn:
            jobs = conn.execute("SELECT worker, jobid, job_name FROM colcrypt.schedule_backfill(%s, %s, %s)",
                                (args.table, args.workers, args.batch_size)).fetchall()
        for worker, jobid, name in jobs:
            print(f"colcrypt: pg_cron job {jobid} ({name}) runs worker {worker} every minute")
        print("colcrypt: watch it with colcrypt status --watch; the jobs are removed when the backfill is done")
        return
    backfill_with_progress(resolve(args.dsn), args.table, args.batch_size, args.workers,
                           show=sys.stderr.isatty() or args.progress)
    with _connect(args) as conn:
        row = conn.execute("SELECT p.phase, p.rows_done FROM colcrypt.progress p JOIN colcrypt.migrations m"
                           " USING (migration_id) WHERE to_regclass(%s) IN (m.source, m.name_view)"
                           " ORDER BY migration_id DESC LIMIT 1", (args.table,)).fetchone()
    print(f"colcrypt: {args.table}: {row[0]}, {row[1]:,} rows copied; next: colcrypt validate {args.table}")


def cmd_migrate(args) -> int:
    from colcrypt.migrate.run import migrate, parse_target

    targets = [parse_target(t) for t in args.target]
    return migrate(resolve(args.dsn), targets, args.key, args.workers, args.batch_size, args.cutover,
                   show=sys.stderr.isatty() or args.progress)


def cmd_validate(args) -> int:
    with _connect(args) as conn:
        cur = conn.execute("SELECT * FROM colcrypt.validate(%s, %s)", (args.table, args.sample_size))
        v = dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
    if args.format == "json":
        print(json.dumps(v, default=str, indent=2))
    else:
        print(f"colcrypt: {args.table}: {v['total']:,} rows compared in {v['seconds']:.1f} s: {v['valid']:,} valid, "
              f"{v['mismatched']} mismatched, {v['missing']} missing, {v['orphaned']} orphaned")
        for kind, keys in v["examples"].items():
            if keys:
                print(f"  {kind}: keys {', '.join(keys)}")
    if not args.performance:
        return 0 if v["passed"] else 3
    return 0 if v["passed"] and _compare_with_baseline(args) == 0 else 3


def _compare_with_baseline(args) -> int:
    """colcrypt baseline --compare against args.baseline with this command's window options: the
    comparison is stored in colcrypt.baseline_comparisons (the dashboard shows it with its trend)."""
    return cmd_baseline(argparse.Namespace(**{
        **vars(args), "label": args.baseline, "compare": True, "replace": False, "latency": None,
        "throughput": None, "cpu": None, "format": vars(args).get("format", "table")}))


def cmd_preflight(args) -> None:
    with _connect(args) as conn:
        rows = conn.execute("SELECT kind, detail, calls, remedy FROM colcrypt.preflight(%s)", (args.table,)).fetchall()
    if args.format == "json":
        print(json.dumps([dict(zip(("kind", "detail", "calls", "remedy"), r, strict=True)) for r in rows], indent=2))
        return
    if not rows:
        print(f"colcrypt: {args.table}: nothing the cutover would change for applications was found")
    for kind, detail, calls, remedy in rows:
        print(f"{kind:<28} {'' if calls is None else f'{calls:,} calls':>14}  {detail}\n{'':<44}-> {remedy}")


def cmd_cutover(args) -> None:
    with _connect(args) as conn:
        if args.stage == "finalize":
            stage, attempts, waited, took = conn.execute(
                "SELECT * FROM colcrypt.finalize(%s, p_lock_timeout => %s)",
                (args.table, f"{args.lock_timeout} ms")).fetchone()
        else:
            stage, attempts, waited, took = conn.execute(
                "SELECT * FROM colcrypt.cutover(%s, %s, p_force => %s, p_lock_timeout => %s)",
                (args.table, args.stage, args.force, f"{args.lock_timeout} ms")).fetchone()
    print(f"colcrypt: {args.table}: {stage} cut over in {took:.0f} ms after {attempts} attempt(s)"
          f" ({waited} ms waiting); applications waited at most {args.lock_timeout} ms per attempt")


def cmd_cleanup(args) -> None:
    with _connect(args) as conn:
        rows = conn.execute("SELECT place, detail, action FROM colcrypt.cleanup(%s, %s, p_lock_timeout => %s)",
                            (args.table, args.retain, f"{args.lock_timeout} ms")).fetchall()
        if args.purge_statistics and any(r[0] == "planner statistics" for r in rows):
            rows = _purge_statistics(conn, args.table, rows)
    if args.format == "json":
        print(json.dumps([{"place": p, "detail": d, "action": a} for p, d, a in rows], indent=2))
        return
    print(f"colcrypt: {args.table}: cleanup (retention {args.retain})")
    for place, detail, action in rows:
        print(f"  {place}: {detail}\n      -> {action}")


def _purge_statistics(conn, table: str, rows: list) -> list:
    """VACUUM FULL of pg_statistic, whose file keeps the dropped table's statistics, and a CHECKPOINT; what
    plaintext_residue says after it (or, when this role may not, the rows as they were)."""
    conn.execute("SET lock_timeout = '200ms'")  # a queued rewrite would hold up every query's planning
    for attempt in range(5):
        try:
            conn.execute("VACUUM FULL pg_catalog.pg_statistic")
            conn.execute("CHECKPOINT")
            break
        except psycopg.errors.LockNotAvailable:
            time.sleep(0.5 * (attempt + 1))
        except psycopg.Error as e:
            print(f"colcrypt: pg_statistic not rewritten ({e.diag.message_primary}): run VACUUM FULL "
                  "pg_catalog.pg_statistic as a superuser", file=sys.stderr)
            return rows
    else:
        print("colcrypt: pg_statistic not rewritten (it stayed busy): run VACUUM FULL pg_catalog.pg_statistic at "
              "a quiet moment", file=sys.stderr)
        return rows
    print("colcrypt: pg_statistic rewritten (VACUUM FULL, CHECKPOINT): the dropped table's statistics are gone")
    return conn.execute("SELECT place, detail, action FROM colcrypt.plaintext_residue(%s)", (table,)).fetchall()


def cmd_rollback(args) -> int:
    """One table, or several one at a time; with --gradual a stability check against the baseline
    after each, stopping (with the tables left named) at the first that is not stable."""
    for i, table in enumerate(args.table):
        with _connect(args) as conn:
            from_state, attempts, _, took = conn.execute(
                "SELECT * FROM colcrypt.rollback(%s, p_lock_timeout => %s)",
                (table, f"{args.lock_timeout} ms")).fetchone()
        print(f"colcrypt: {table}: rolled back from {from_state} in {took:.0f} ms after {attempts} attempt(s);"
              " the plaintext table holds the name and every write")
        left = args.table[i + 1:]
        if not args.gradual or not left:
            continue
        print(f"colcrypt: stability check against baseline {args.baseline!r} before {left[0]}")
        if _compare_with_baseline(args) != 0:
            print(f"colcrypt: ALERT: unstable after rolling back {table}; stopped before {', '.join(left)}."
                  " Investigate, then run colcrypt rollback again for those.", file=sys.stderr)
            return 3
    return 0


def cmd_audit_verify(args) -> int:
    with _connect(args) as conn:
        events, head, head_hash, problem = conn.execute("SELECT * FROM colcrypt.verify_audit()").fetchone()
    if args.format == "json":
        print(json.dumps({"events": events, "head_event": head, "head_hash": head_hash, "problem": problem}))
    elif problem:
        print(f"colcrypt: audit log BROKEN after {events} intact event(s): {problem}", file=sys.stderr)
    else:
        print(f"colcrypt: audit log intact: {events} event(s), head event {head}, hash {head_hash} "
              "(record it elsewhere: a later check that ends in the same hash proves nothing before it changed)")
    return 3 if problem else 0


def cmd_report(args) -> int:
    from colcrypt.report import collect, render

    with _connect(args) as conn:
        report = collect.collect(conn)
    text = render(report, args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"colcrypt: {args.format} report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for problem in report["summary"]["problems"]:
        print(f"colcrypt: {problem}", file=sys.stderr)
    return 3 if report["summary"]["problems"] else 0


def cmd_status(args) -> None:
    import time

    from colcrypt.migrate.client import render, status

    with _connect(args) as conn:
        while True:
            state = status(conn)
            if args.format == "json":
                print(json.dumps(state, default=str, indent=2))
            else:
                if args.watch and sys.stdout.isatty():
                    print("\033[2J\033[H", end="")
                print(render(state))
            if not args.watch:
                return
            time.sleep(args.interval)


def cmd_demo(args) -> int:
    from colcrypt.demo import run
    from colcrypt.demo.workflow import Options

    if args.scale <= 0 or args.workers < 1 or args.baseline_seconds < 1:
        raise ColcryptError("KC008", "colcrypt demo: --scale, --workers and --baseline-seconds must be positive",
                            "For example: colcrypt demo --scale 0.1 --workers 2 --baseline-seconds 5.")
    return run(Options(args.scale, args.workers, args.baseline_seconds, args.report_dir, args.keep))


def _print_table(cols: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def parser() -> argparse.ArgumentParser:
    dsn = argparse.ArgumentParser(add_help=False)
    dsn.add_argument("--dsn", help="libpq connection string or URI (default: DATABASE_URL, PG* variables, "
                                   "else the embedded cluster)")
    kek = argparse.ArgumentParser(add_help=False)
    kek.add_argument("--kek-file", type=Path, help="local provider KEK file (default: $COLCRYPT_KEK_FILE, "
                                                    "else ~/.config/colcrypt/kek)")

    p = argparse.ArgumentParser(prog="colcrypt", description=__doc__)
    p.add_argument("--version", action="version", version=f"colcrypt {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("install", parents=[dsn], help="create or update the extension in a database"
                   ).set_defaults(func=cmd_install)

    keys = sub.add_parser("keys", help="data keys: create, list, grant, revoke").add_subparsers(
        dest="keys_command", required=True)
    create = keys.add_parser("create", parents=[dsn, kek], help="make a data key, wrap it, store the wrapped form")
    create.add_argument("key_id")
    create.add_argument("--provider", default="local", choices=["local", "pkcs11", "aws-kms"],
                        help="where the KEK lives (default local: a KEK file)")
    create.add_argument("--kek", metavar="REF", help="pkcs11: a PKCS#11 URI (pkcs11:token=...;object=...); "
                        "aws-kms: a KMS key id, alias/... or ARN. The PIN and credentials come from the environment "
                        "(COLCRYPT_PKCS11_PIN_FILE, AWS_*), never from the command line")
    create.set_defaults(func=cmd_keys_create)
    rewrap = keys.add_parser("rewrap", parents=[dsn, kek], help="KEK rotation: wrap a key's versions with a new KEK")
    rewrap.add_argument("key_id")
    rewrap.add_argument("--provider", default="local", choices=["local", "pkcs11", "aws-kms"],
                        help="the new KEK's provider (default local: --kek-file names the new KEK file)")
    rewrap.add_argument("--kek", metavar="NEWREF", help="the new KEK: a PKCS#11 URI or a KMS key id, alias or ARN")
    rewrap.add_argument("--old-kek-file", type=Path, help="the current local KEK file, when the key is wrapped by one")
    rewrap.set_defaults(func=cmd_keys_rewrap)
    rotate = keys.add_parser("rotate", parents=[dsn, kek], help="a new data-key version for new writes")
    rotate.add_argument("key_id")
    rotate.add_argument("--reencrypt", nargs="+", metavar="TABLE",
                        help="then re-encrypt these migrated tables' values under the new version")
    rotate.set_defaults(func=cmd_keys_rotate)
    destroy = keys.add_parser("destroy", parents=[dsn], help="crypto-shredding: make a key's values unreadable")
    destroy.add_argument("key_id")
    destroy.add_argument("--version", type=int, help="only this version (default: every version)")
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.set_defaults(func=cmd_keys_destroy)
    lst = keys.add_parser("list", parents=[dsn], help="show the keyring")
    lst.add_argument("--format", choices=["table", "json"], default="table")
    lst.set_defaults(func=cmd_keys_list)
    for verb, func in (("grant", cmd_keys_grant), ("revoke", cmd_keys_revoke)):
        g = keys.add_parser(verb, parents=[dsn], help=f"{verb} server-side use of a key to a role")
        g.add_argument("key_id")
        g.add_argument("role")
        g.set_defaults(func=func)

    disc = sub.add_parser("discover", parents=[dsn], help="find columns holding sensitive data")
    disc.add_argument("--schema", action="append", help="schema to scan (repeatable; default: all user schemas)")
    disc.add_argument("--sample-size", type=int, default=2000, help="values sampled per column (default 2000)")
    disc.add_argument("--table-budget", type=float, default=30.0, metavar="SECONDS",
                      help="time per table after which sparse columns are not sampled again (default 30)")
    disc.add_argument("--format", choices=["table", "json", "csv"], default="table")
    disc.set_defaults(func=cmd_discover)

    base = sub.add_parser("baseline", parents=[dsn], help="measure latency, throughput, CPU and IO; store or compare")
    base.add_argument("--label", default="baseline", help="name of the baseline (default: baseline)")
    base.add_argument("--duration", type=float, default=60.0, help="seconds to measure (default 60)")
    base.add_argument("--workload", type=Path, help="SQL file to replay during the window (statements end with ';')")
    base.add_argument("--clients", type=int, default=2, help="connections replaying the workload (default 2)")
    base.add_argument("--compare", action="store_true", help="measure now and compare with the stored baseline; "
                                                              "exit status 3 when a metric is beyond its threshold")
    base.add_argument("--replace", action="store_true", help="measure an existing label again")
    for name, default in (("latency", "+10"), ("throughput", "-10"), ("cpu", "+15")):
        base.add_argument(f"--{name}", type=float, metavar="PCT",
                          help=f"{name} threshold in percent (default {default})")
    base.add_argument("--format", choices=["table", "json"], default="table")
    base.set_defaults(func=cmd_baseline)

    prep = sub.add_parser("prepare", parents=[dsn], help="shadow table and dual-write triggers for a table")
    prep.add_argument("table", help="the table as applications name it, e.g. crm.customers")
    prep.add_argument("columns", nargs="+", help="the sensitive columns to encrypt")
    prep.add_argument("--key", required=True, help="key id from colcrypt keys list")
    prep.add_argument("--blind-index", action="append", metavar="COLUMN",
                      help="also keep a blind index <column>_bidx for equality lookups (repeatable)")
    prep.set_defaults(func=cmd_prepare)

    back = sub.add_parser("backfill", parents=[dsn], help="copy existing rows encrypted, with a progress bar")
    back.add_argument("table")
    back.add_argument("--workers", type=int, default=1, help="parallel workers splitting the key space")
    back.add_argument("--batch-size", type=int, default=1000, help="first batch size (it adapts)")
    back.add_argument("--schedule", action="store_true", help="run it unattended with pg_cron instead")
    back.add_argument("--progress", action="store_true", help="show the progress bar even when not a terminal")
    back.set_defaults(func=cmd_backfill)

    val = sub.add_parser("validate", parents=[dsn], help="decrypt and compare; exit status 3 on differences")
    val.add_argument("table")
    val.add_argument("--sample-size", type=int, help="rows to sample (default: every row)")
    val.add_argument("--format", choices=["table", "json"], default="table")
    val.add_argument("--performance", action="store_true",
                     help="also measure a window and compare it with the baseline (exit 3 when beyond a threshold)")
    val.add_argument("--baseline", default="baseline", help="the baseline to compare with (default: baseline)")
    val.add_argument("--duration", type=float, default=60.0, help="seconds to measure (default 60)")
    val.add_argument("--workload", type=Path, help="SQL file to replay during the window")
    val.add_argument("--clients", type=int, default=2, help="connections replaying the workload (default 2)")
    val.set_defaults(func=cmd_validate)

    mig = sub.add_parser("migrate", parents=[dsn], help="prepare, backfill and validate tables in one resumable run")
    mig.add_argument("target", nargs="+", metavar="TABLE:COLUMNS", help="e.g. crm.customers:ssn,email")
    mig.add_argument("--key", required=True, help="the data key to encrypt with")
    mig.add_argument("--workers", type=int, default=1, help="backfill workers per table (default 1)")
    mig.add_argument("--batch-size", type=int, default=1000, help="backfill batch size (default 1000)")
    mig.add_argument("--cutover", action="store_true", help="then cut each validated table over for reads")
    mig.add_argument("--progress", action="store_true", help="show progress bars even without a terminal")
    mig.set_defaults(func=cmd_migrate)

    pre = sub.add_parser("preflight", parents=[dsn], help="what the cutover will change for applications")
    pre.add_argument("table")
    pre.add_argument("--format", choices=["table", "json"], default="table")
    pre.set_defaults(func=cmd_preflight)

    cut = sub.add_parser("cutover", parents=[dsn], help="switch the table's name to the encrypted data")
    cut.add_argument("table")
    cut.add_argument("--stage", choices=["reads", "writes", "finalize"], default="reads",
                     help="reads, then writes, then finalize (the plaintext table stops being written)")
    cut.add_argument("--force", action="store_true", help="skip the validation and key-grant checks")
    cut.add_argument("--lock-timeout", type=int, default=200, metavar="MS",
                     help="the longest an application statement waits for the switch, per attempt (default 200)")
    cut.set_defaults(func=cmd_cutover)

    clean = sub.add_parser("cleanup", parents=[dsn], help="after finalize: drop the plaintext table once retained")
    clean.add_argument("table")
    clean.add_argument("--retain", default="90 days",
                       help="how long after finalize the plaintext table is kept (default '90 days'; '0' drops now)")
    clean.add_argument("--lock-timeout", type=int, default=200, metavar="MS",
                       help="the longest an application statement waits for the switch, per attempt (default 200)")
    clean.add_argument("--format", choices=["table", "json"], default="table")
    clean.add_argument("--no-purge-statistics", dest="purge_statistics", action="store_false",
                       help="leave pg_statistic as it is (by default a dropped table's statistics are purged with"
                            " VACUUM FULL pg_catalog.pg_statistic and a CHECKPOINT, which needs a superuser)")
    clean.set_defaults(func=cmd_cleanup)

    rb = sub.add_parser("rollback", parents=[dsn], help="back to the plaintext table, from any stage before cleanup")
    rb.add_argument("table", nargs="+", help="one or more tables, rolled back one at a time in this order")
    rb.add_argument("--gradual", action="store_true",
                    help="between tables, measure a window and compare it with the baseline; stop when unstable")
    rb.add_argument("--baseline", default="baseline", help="the baseline of --gradual (default: baseline)")
    rb.add_argument("--duration", type=float, default=30.0, help="seconds of each stability window (default 30)")
    rb.add_argument("--workload", type=Path, help="SQL file to replay during each window")
    rb.add_argument("--clients", type=int, default=2, help="connections replaying the workload (default 2)")
    rb.add_argument("--lock-timeout", type=int, default=200, metavar="MS",
                    help="the longest an application statement waits for the switch, per attempt (default 200)")
    rb.set_defaults(func=cmd_rollback)

    audit = sub.add_parser("audit", help="the tamper-evident event log").add_subparsers(
        dest="audit_command", required=True)
    verify = audit.add_parser("verify", parents=[dsn], help="check the event log's hash chain (exit 3 if broken)")
    verify.add_argument("--format", choices=["table", "json"], default="table")
    verify.set_defaults(func=cmd_audit_verify)

    rep = sub.add_parser("report", parents=[dsn], help="a compliance report for auditors (exit 3 on a problem)",
                         description="A compliance report from colcrypt's catalog (docs/report.md). Exit status 3 "
                                     "when the event log's hash chain is broken or the latest validation of a "
                                     "migration found differences, 1 on an error, 0 otherwise.")
    rep.add_argument("--format", choices=list(REPORT_FORMATS), default="markdown",
                     help="markdown (default), html (one self-contained page) or json (every figure)")
    rep.add_argument("--output", type=Path, metavar="FILE", help="write the report to FILE (default: stdout)")
    rep.set_defaults(func=cmd_report)

    stat = sub.add_parser("status", parents=[dsn], help="the migration dashboard")
    stat.add_argument("--watch", action="store_true", help="refresh until interrupted")
    stat.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    stat.add_argument("--format", choices=["table", "json"], default="table")
    stat.set_defaults(func=cmd_status)

    demo = sub.add_parser("demo", help="the whole workflow on a throwaway cluster under a live application load",
                          description="Exit status 0 when no application transaction failed and no row was lost, "
                                      "3 otherwise, 130 when interrupted (the cluster is removed either way).")
    demo.add_argument("--scale", type=float, default=1.0, help="sample database size (1.0: over 200,000 rows)")
    demo.add_argument("--workers", type=int, default=2, help="application workers (default 2)")
    demo.add_argument("--baseline-seconds", type=int, default=10, help="each performance window (default 10)")
    demo.add_argument("--report-dir", type=Path, default=Path("colcrypt-demo-report"),
                      help="where the report goes in Markdown, HTML and JSON (default ./colcrypt-demo-report)")
    demo.add_argument("--keep", action="store_true", help="leave the cluster running at the end, to look at it")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("colcrypt: interrupted", file=sys.stderr)
        return 130
    except ColcryptError as e:
        print(f"colcrypt: error [{e.sqlstate}]: {e}", file=sys.stderr)
        return 1
    except psycopg.Error as e:
        diag = e.diag
        print(f"colcrypt: error [{diag.sqlstate or '-'}]: {diag.message_primary or e}", file=sys.stderr)
        if diag.message_hint:
            print(f"HINT: {diag.message_hint}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
