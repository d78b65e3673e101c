"""colcrypt.plaintext_residue(table): where plaintext of the migrated columns may still live once the
shadow holds them, measured on this server where it can be, with what to do about each place. Part
of what cleanup reports; callable at any stage."""

from colcrypt.migrate.state import event_detail, find_live, live_migration, plan_of
from colcrypt.plpy_helpers import query

SETTINGS_SQL = """
SELECT current_setting('archive_mode') AS archive_mode, current_setting('log_statement') AS log_statement,
       current_setting('log_min_duration_statement') AS log_min_duration,
       (SELECT count(*) FROM pg_stat_replication) AS standbys,
       (SELECT count(*) FROM pg_replication_slots) AS slots,
       (SELECT count(*) FROM pg_ls_waldir()) AS wal_files,
       pg_size_pretty((SELECT sum(size) FROM pg_ls_waldir())) AS wal_size
"""
STATS_SQL = """
SELECT attname::text FROM pg_stats
WHERE schemaname = $1 AND tablename = $2 AND attname = ANY($3)
  AND (most_common_vals IS NOT NULL OR histogram_bounds IS NOT NULL)
"""


# The plaintext table's rows in pg_statistic (its partitions' too), and the file pg_statistic is in now:
# dropping the table leaves its rows dead in that file until it is rewritten.
DROPPED_STATISTICS_SQL = """
SELECT (SELECT count(*) FROM pg_statistic WHERE starelid = $1 OR starelid IN (SELECT relid FROM pg_partition_tree($1)))
           AS rows,
       pg_relation_filenode('pg_catalog.pg_statistic') AS filenode
"""
CLEANED_SQL = """
SELECT m.* FROM colcrypt.migrations m WHERE m.name_view = $1 AND m.state = 'cleaned'
ORDER BY m.migration_id DESC LIMIT 1
"""
PURGE = "VACUUM FULL pg_catalog.pg_statistic"


def residue(plpy, table: str, oid: int | None) -> list[dict]:
    """At any stage; after cleanup, from what cleanup measured before it dropped the plaintext table."""
    cleaned = query(plpy, CLEANED_SQL, ["oid"], [oid]) if oid and not find_live(plpy, oid) else []
    if cleaned:
        detail = event_detail(plpy, dict(cleaned[0]), "cleanup")
        return [r for r in detail.get("residue", []) if r["place"] != "planner statistics"] + \
            statistics_residue(plpy, detail.get("dropped", table), detail.get("statistics"))
    m = live_migration(plpy, table, oid)
    return residue_of(plpy, m, plan_of(plpy, m))


def dropped_statistics(plpy, table_oid: int) -> dict | None:
    """DROPPED_STATISTICS_SQL, read just before the plaintext table is dropped (None: this role may not)."""
    try:
        with plpy.subtransaction():
            return dict(query(plpy, DROPPED_STATISTICS_SQL, ["oid"], [table_oid])[0])
    except plpy.SPIError:  # pg_statistic is the superuser's
        return None


def statistics_residue(plpy, table: str, stats: dict | None) -> list[dict]:
    """The dropped table's statistics, still in pg_statistic's file unless it was rewritten since."""
    if stats is not None and (stats["rows"] == 0 or
                              plpy.execute("SELECT pg_relation_filenode('pg_catalog.pg_statistic') AS f")[0]["f"]
                              != stats["filenode"]):
        return []
    what = (f"the {stats['rows']} statistics rows of {table} (most common values, histogram bounds) are dead rows "
            "of pg_statistic, still in its file") if stats else f"the statistics of {table} may be dead rows of it"
    return [{"place": "planner statistics", "detail": f"{what}: a plain VACUUM need not overwrite them",
             "action": f"{PURGE} (a superuser or the database owner; it locks the catalog for a moment), then "
                       "CHECKPOINT; colcrypt cleanup runs it"}]


def residue_of(plpy, m: dict, plan, dropped: str | None = None, statistics: dict | None = None) -> list[dict]:
    """dropped: after cleanup, the name of the plaintext table it dropped; statistics: that table's
    statistics, which stay in pg_statistic's file (dropped_statistics)."""
    cols = list(plan.sensitive)
    out = []

    def add(place: str, detail: str, action: str) -> None:
        out.append({"place": place, "detail": detail, "action": action})

    if not dropped:
        add("plaintext table", f"{plan.source} (state {m['state']})",
            "it keeps every value until cleanup drops it; finalize revokes its grants")
    stats = [] if dropped else [r["attname"] for r in query(plpy, STATS_SQL, ["text", "text", "text[]"],
                                                                  [plan.schema, plan.table, cols])]
    if stats:
        add("planner statistics", f"pg_statistic holds common values and histogram bounds of {', '.join(stats)}",
            f"cleanup drops them with the plaintext table, but their rows stay in pg_statistic's file until {PURGE}; "
            "until then pg_stats shows them to the plaintext table's readers (none after the read cutover)")
    if dropped:
        out += statistics_residue(plpy, dropped, statistics)
    try:
        with plpy.subtransaction():
            s = plpy.execute(SETTINGS_SQL)[0]
    except plpy.SPIError:  # pg_ls_waldir needs pg_monitor or superuser
        s = None
    if s is None:
        add("WAL, archive, standbys, server log", "not readable by this role (needs pg_monitor)",
            "run plaintext_residue as a superuser or a member of pg_monitor")
        return out
    add("WAL", f"{s['wal_files']} segment(s), {s['wal_size']}, and WAL held by {s['slots']} replication slot(s)",
        "every value written before the cutover is in WAL until the segments are recycled: CHECKPOINT and "
        "pg_switch_wal() after cleanup, and drop stale replication slots")
    if s["archive_mode"] != "off":
        add("WAL archive and base backups", f"archive_mode = {s['archive_mode']}",
            "archived WAL and every base backup taken before cleanup hold plaintext: expire them per the retention "
            "policy, or keep them encrypted and access-controlled")
    else:
        add("base backups and dumps", "backups and pg_dump files taken before cleanup",
            "they hold plaintext: expire them per the retention policy")
    if s["standbys"]:
        add("standbys", f"{s['standbys']} streaming standby(s)",
            "they replay the same changes: their files and WAL hold what the primary's do; treat them alike")
    if s["log_statement"] in ("all", "mod") or s["log_min_duration"] != "-1":
        add("server log", f"log_statement = {s['log_statement']}, log_min_duration_statement = {s['log_min_duration']}",
            "statements with literal values may be logged: rotate and purge the logs written before the cutover")
    add("pg_stat_statements and client-side logs", "statement texts (constants are normalized, utility statements "
        "are not) and application logs", "pg_stat_statements_reset() after cleanup; check application logs")
    return out
