"""Everything the compliance report shows, read from colcrypt's catalog in one read-only snapshot.

The result holds only JSON values (timestamps as ISO 8601 text). It never holds key material: the
keyring is read column by column, without wrapped_key."""

import datetime
import decimal

import psycopg
from psycopg import sql

from colcrypt import __version__
from colcrypt.errors import ColcryptError
from colcrypt.report import queries as q

ALGORITHMS = {1: "AES-256-GCM"}  # envelope byte 1 (docs/format.md)
ENDED = ("cleaned", "rolled_back")  # every other state is a live migration
# (phase shown, the event that marks it); the first such event of a migration counts
PHASES = (("prepare", "prepare"), ("backfill start", "state backfilling"), ("backfill end", "state backfilled"),
          ("validated", "state validated"), ("cutover reads", "cutover reads"), ("cutover writes", "cutover writes"),
          ("finalize", "finalize"), ("cleanup", "cleanup"), ("rollback", "rollback"))


def collect(conn: psycopg.Connection) -> dict:
    """The report's data. Raises ColcryptError (KC010) when colcrypt is not installed in the database."""
    if conn.execute("SELECT FROM pg_extension WHERE extname = 'colcrypt'").fetchone() is None:
        raise ColcryptError("KC010", f"colcrypt is not installed in database {conn.info.dbname!r}",
                            "Point --dsn at the database where colcrypt is installed, or install it there: "
                            "colcrypt install --dsn ... (CREATE EXTENSION colcrypt CASCADE).")
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if idle:  # one snapshot: the audit verdict and the sections describe the same log
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _collect(conn)


def _collect(conn) -> dict:
    generated = _rows(conn, q.GENERATED_SQL)[0]
    generated["report_by"] = f"colcrypt {__version__}"
    migrations = _rows(conn, q.MIGRATIONS_SQL)
    usage = _key_usage(conn, {m["key_id"] for m in migrations if m["state"] != "rolled_back"})
    validations = _validations(conn)
    audit = _audit(conn)
    report = {
        "generated": generated,
        "summary": {},
        "discovery": _discovery(conn, migrations),
        "columns": _columns(conn, migrations, usage),
        "keys": _keys(conn, usage),
        "key_events": _rows(conn, q.KEY_EVENTS_SQL),
        "validations": validations,
        "performance": _performance(conn),
        "rollbacks": _rollbacks(conn, migrations),
        "timings": _timings(conn, migrations),
        "residue": _residue(conn, migrations),
        "audit": audit,
    }
    report["summary"] = _summary(migrations, validations, audit, report["performance"])
    return report


def _summary(migrations: list[dict], validations: list[dict], audit: dict, performance: dict) -> dict:
    latest = {}  # the latest migration of each table
    for m in migrations:
        latest[m["table_name"]] = m
    tables = [{"table": m["table_name"], "state": m["state"], "columns": m["columns"], "key_id": m["key_id"],
               "migration_id": m["migration_id"], "rows": m["rows_total"], "since": m["state_changed_at"]}
              for m in latest.values()]
    failed = [v for v in validations if v["latest"] and not v["passed"] and v["migration_state"] != "rolled_back"]
    problems = [f"the event log's hash chain is broken: {audit['problem']}"] if audit["problem"] else []
    problems += [f"{v['table_name']}: the latest validation (#{v['validation_id']}, {v['validated_at']}) found "
                 f"{v['mismatched']} mismatched, {v['missing']} missing, {v['orphaned']} orphaned row(s)"
                 for v in failed]
    comparisons = [c for b in performance["baselines"] for c in b["comparisons"]]
    latest_comparison = max(comparisons, key=lambda c: c["comparison_id"], default=None)
    return {
        "tables": tables,
        "encrypted": sum(t["state"] == "cleaned" for t in tables),
        "in_progress": sum(t["state"] not in ENDED for t in tables),
        "rolled_back": sum(t["state"] == "rolled_back" for t in tables),
        "failed_validations": [v["validation_id"] for v in failed],
        "audit": audit["verdict"],
        "performance": {k: latest_comparison[k] for k in ("label", "compared_at", "verdict")}
        if latest_comparison else None,
        "problems": problems,
    }


def _discovery(conn, migrations: list[dict]) -> dict:
    """Each finding with the decision taken, from the latest migration of its table (found by the
    table's oid: the name applications use, or the plaintext table while the migration is live)."""
    by_column = {}
    for m in migrations:
        for c in m["columns"]:
            for oid in (m["view_oid"], m["source_oid"]):
                if oid is not None:
                    by_column[(oid, c)] = m
    findings = _rows(conn, q.DISCOVERY_SQL)
    for f in findings:
        oid = f.pop("relation_oid")
        m = by_column.get((oid, f["column_name"]))
        f["table_exists"] = oid is not None
        f["migration_state"] = m["state"] if m else None
        f["decision"] = ("not encrypted" if m is None or m["state"] == "rolled_back" else
                         "encrypted" if m["state"] == "cleaned" else "pending")
    return {"runs": _rows(conn, q.DISCOVERY_RUNS_SQL), "findings": findings}


def _columns(conn, migrations: list[dict], usage: dict) -> list[dict]:
    by_id = {m["migration_id"]: m for m in migrations}
    headers = {m["migration_id"]: _envelopes(conn, m) for m in migrations if m["state"] != "rolled_back"}
    out = []
    for row in _rows(conn, q.COLUMNS_SQL):
        m = by_id[row["migration_id"]]
        envelopes = headers[m["migration_id"]].get(row["column_name"], [])
        algorithms = sorted({e["algorithm"] for e in envelopes}) or [ALGORITHMS[1]]
        out.append({
            "table": m["table_name"], "column": row["column_name"], "data_type": row["data_type"],
            "state": m["state"], "migration_id": m["migration_id"], "key_id": m["key_id"],
            "algorithm": ", ".join(algorithms),
            "format_versions": sorted({e["format_version"] for e in envelopes}),
            "envelopes": envelopes,
            "key_versions": usage.get((m["table_name"], row["column_name"]), []),
            "blind_index": row["column_name"] in m["blind_index"],
        })
    return out


def _envelopes(conn, m: dict) -> dict:
    """column -> the envelope format versions and algorithms of its stored values (a scan of the shadow)."""
    if m["shadow_name"] is None:
        return {}
    columns = sql.SQL("(VALUES {})").format(sql.SQL(", ").join(
        sql.SQL("({}, s.{})").format(sql.Literal(c), sql.Identifier(f"{c}_encrypted")) for c in m["columns"]))
    query = sql.SQL(q.ENVELOPES_SQL).format(shadow=sql.Identifier(m["shadow_schema"], m["shadow_name"]),
                                          columns=columns)
    out: dict = {}
    for r in _rows(conn, query):
        out.setdefault(r.pop("column_name"), []).append(
            r | {"algorithm": ALGORITHMS.get(r["algorithm"], f"unknown ({r['algorithm']})")})
    return out


def _key_usage(conn, key_ids: set[str]) -> dict:
    """(table, column) -> [{version, values}] from colcrypt.key_usage (a scan of each shadow)."""
    usage: dict = {}
    for key_id in sorted(key_ids):
        for r in _rows(conn, "SELECT * FROM colcrypt.key_usage(%s)", (key_id,)):
            usage.setdefault((r["table_name"], r["column_name"]), []).append(
                {"key_id": key_id, "version": r["version"], "values": r["value_count"]})
    return usage


def _keys(conn, usage: dict) -> list[dict]:
    values: dict = {}
    for versions in usage.values():
        for v in versions:
            values[(v["key_id"], v["version"])] = values.get((v["key_id"], v["version"]), 0) + v["values"]
    keys: dict = {}
    for r in _rows(conn, q.KEYRING_SQL):
        key = keys.setdefault(r["key_id"], {"key_id": r["key_id"], "versions": [], "grants": []})
        key["versions"].append({k: v for k, v in r.items() if k != "key_id"} |
                               {"values_in_use": values.get((r["key_id"], r["version"]), 0)})
    for g in _rows(conn, q.GRANTS_SQL):  # a grant may name a key id that has no version (yet)
        keys.setdefault(g["key_id"], {"key_id": g["key_id"], "versions": [], "grants": []})["grants"].append(
            {k: v for k, v in g.items() if k != "key_id"})
    return list(keys.values())


def _validations(conn) -> list[dict]:
    rows = _rows(conn, q.VALIDATIONS_SQL)
    for v in rows:
        v["outcome"] = "passed" if v["passed"] else "FAILED"
    return rows


def _performance(conn) -> dict:
    baselines = {b["label"]: b | {"comparisons": []} for b in _rows(conn, q.BASELINES_SQL)}
    for c in _rows(conn, q.COMPARISONS_SQL):
        results = [_judged(r) for r in c.pop("results")]
        failed = [r["metric"] for r in results if r["passed"] is False]
        judged = [r for r in results if r["passed"] is not None]
        c["verdict"] = (f"beyond threshold: {', '.join(failed)}" if failed else
                        "within thresholds" if judged else "not judged")
        c["results"] = results
        baselines[c["label"]]["comparisons"].append(c)
    return {"baselines": list(baselines.values())}


def _judged(r: dict) -> dict:
    base, current = r.get("baseline"), r.get("current")
    ratio = round(current / base, 3) if base and current is not None else None
    verdict = ("within threshold" if r.get("passed") else "BEYOND threshold" if r.get("passed") is False else
               f"not judged: {r.get('recommendation') or 'informational'}")
    return {"metric": r.get("metric"), "baseline": base, "after": current, "ratio": ratio,
            "change_pct": r.get("change_pct"), "limit_pct": r.get("limit_pct"), "passed": r.get("passed"),
            "verdict": verdict, "recommendation": r.get("recommendation")}


def _rollbacks(conn, migrations: list[dict]) -> list[dict]:
    """Each rollback, and whether the table was migrated again after it (a rehearsal, then the real run)."""
    rows = _rows(conn, q.ROLLBACKS_SQL)
    for r in rows:
        r["migrated_again"] = any(m["table_name"] == r["table_name"] and m["migration_id"] > (r["migration_id"] or 0)
                                  for m in migrations)
    return rows


def _timings(conn, migrations: list[dict]) -> list[dict]:
    names = dict((event, phase) for phase, event in PHASES)
    firsts: dict = {}
    for e in _rows(conn, q.PHASE_EVENTS_SQL, ([event for _, event in PHASES],)):
        firsts.setdefault(e["migration_id"], {}).setdefault(names[e["event"]], e)
    out = []
    for m in migrations:
        events = sorted(firsts.get(m["migration_id"], {}).items(), key=lambda p: p[1]["at"])
        phases, previous = [], None
        for phase, e in events:
            at = datetime.datetime.fromisoformat(e["at"])
            phases.append({"phase": phase, "at": e["at"], "switch_ms": e["switch_ms"],
                           "since_previous_s": round((at - previous).total_seconds(), 3) if previous else None})
            previous = at
        total = sum(p["since_previous_s"] or 0 for p in phases)
        out.append({"table": m["table_name"], "migration_id": m["migration_id"], "state": m["state"],
                    "phases": phases, "total_s": round(total, 3)})
    return out


def _residue(conn, migrations: list[dict]) -> list[dict]:
    """colcrypt.plaintext_residue() for each table under a live migration; for a cleaned table (whose plaintext
    table is gone, so that plaintext_residue() refuses it with KC017) what cleanup measured."""
    return [_measured_residue(conn, m) if m["state"] not in ENDED else _cleaned_residue(conn, m)
            for m in migrations if m["state"] != "rolled_back"]


def _cleaned_residue(conn, m: dict) -> dict:
    """What cleanup measured and logged when it dropped the plaintext table (its event's residue)."""
    cleanup = _rows(conn, q.CLEANUP_EVENT_SQL, (m["migration_id"],))
    entry = {"table": m["table_name"], "state": m["state"], "measured": False, "measured_at": None, "error": None}
    if cleanup and cleanup[0]["residue"]:
        return entry | {"measured": True, "measured_at": cleanup[0]["at"], "places": cleanup[0]["residue"]}
    return entry | {"places": [  # a cleanup logged before colcrypt kept its residue
        {"place": "plaintext table", "detail": f"{cleanup[0]['dropped'] if cleanup else 'it'} dropped by cleanup",
         "action": "none: the shadow table holds the rows, encrypted"},
        {"place": "WAL, WAL archive, base backups and dumps, standbys, server log, pg_stat_statements",
         "detail": "not measured: this cleanup did not record them",
         "action": "whatever was taken or written before the cutover holds plaintext: expire it per the "
                   "retention policy (docs/security.md, operational advice 5)"}]}


def _measured_residue(conn, m: dict) -> dict:
    entry = {"table": m["table_name"], "state": m["state"], "measured": True, "error": None, "places": []}
    try:
        with conn.transaction():  # a savepoint: a refusal must not end the report's snapshot
            entry["places"] = _rows(conn, "SELECT place, detail, action FROM colcrypt.plaintext_residue(%s)",
                                    (m["name_relation"] or m["table_name"],))
    except psycopg.Error as e:
        entry["measured"], entry["error"] = False, e.diag.message_primary or str(e)
    return entry


def _audit(conn) -> dict:
    """colcrypt.verify_audit(); colcrypt 0.1.0 kept no hash chain, so there is nothing to verify."""
    log = _rows(conn, q.EVENT_LOG_SQL)[0]
    if not _rows(conn, q.CHAINED_SQL)[0]["chained"]:
        return log | {"events": None, "head_event": None, "head_hash": None, "problem": None,
                      "verdict": "not verifiable"}
    a = _rows(conn, q.AUDIT_SQL)[0]
    return log | a | {"verdict": "broken" if a["problem"] else "intact"}


def _rows(conn, query, params=None) -> list[dict]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [{n: _plain(v) for n, v in zip(names, r, strict=True)} for r in cur.fetchall()]


def _plain(value):
    """A database value as a JSON value."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | memoryview):
        raise TypeError("the report holds no binary values")  # key material must never reach it
    return value
