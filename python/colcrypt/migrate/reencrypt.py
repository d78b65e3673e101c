"""CALL colcrypt.reencrypt(table): after colcrypt keys rotate, the values of a migrated table that
are under an older version of its key are decrypted and encrypted again under the active version
(blind indexes recomputed), in key order, one committed batch at a time, online: each batch locks
only its own rows, a row written meanwhile is re-checked (and skipped if it already has the new
version), and the table's own triggers on the shadow do not fire (nothing but the ciphertext
changes). Resumable: a run skips what is done. Works at any stage from dual_write to cleaned."""

import time

from colcrypt.migrate import schedule
from colcrypt.migrate.sqlgen import BIDX_SUFFIX, SHADOW_SUFFIX, column_context, ident, literal
from colcrypt.migrate.state import log_event
from colcrypt.plpy_helpers import as_owner, commit, fail, interval_seconds, pin, query

MIGRATION_SQL = """
SELECT m.migration_id, m.table_name, m.columns, m.key_columns, m.key_id, m.context_prefix, m.blind_index,
       coalesce((to_jsonb(m) ->> 'context_version')::int, 1) AS context_version,  -- 1 before 0.2.1
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS shadow, m.shadow::oid AS shadow_oid
FROM colcrypt.migrations m JOIN pg_class c ON c.oid = m.shadow JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (m.source = $1 OR m.name_view = $1) AND m.state <> 'rolled_back'
ORDER BY m.migration_id DESC LIMIT 1
"""
ACTIVE_SQL = "SELECT version FROM colcrypt.key_versions WHERE key_id = $1 AND state = 'active'"
KEY_TYPES_SQL = """
SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
WHERE a.attrelid = $1 AND a.attname = ANY($2)
"""
SHADOW_TRIGGERS_SQL = "SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal"


def _older(col: str) -> str:
    """The value is under another version than $3 (the envelope's key version sits after its key id)."""
    v = f"s.{ident(col + SHADOW_SUFFIX)}"
    return f"({v} IS NOT NULL AND substring({v} FROM 4 + get_byte({v}, 2) FOR 4) <> int4send($3))"


def _migration(plpy, table: str, oid: int | None, batch_size: int) -> dict:
    if not batch_size or batch_size < 1:
        fail(plpy, "KC008", f"p_batch_size must be positive, not {batch_size}", "1000 suits most tables.")
    rows = query(plpy, MIGRATION_SQL, ["oid"], [oid]) if oid else []
    if not rows:
        fail(plpy, "KC017", f"{table} has no migration with encrypted values",
             "See SELECT * FROM colcrypt.migrations.")
    return dict(rows[0])


def batch_sql(m: dict, types: dict[str, str]) -> str:
    keys = [ident(k) for k in m["key_columns"]]
    after = ", ".join(f"($1[{i}])::{types[k]}" for i, k in enumerate(m["key_columns"], 1))
    key_text = (f"(s.{keys[0]})::text" if len(keys) == 1 else "ROW(" + ", ".join(f"s.{k}" for k in keys) + ")::text")
    sets = []
    for c in m["columns"]:
        column = column_context(m["context_prefix"], m["context_version"], c)
        ctx = f"{literal(column + '#')} || {key_text}"
        plain = f"colcrypt.decrypt_column(s.{ident(c + SHADOW_SUFFIX)}, {ctx})"
        sets.append(f"{ident(c + SHADOW_SUFFIX)} = CASE WHEN {_older(c)} THEN colcrypt.encrypt_column({plain}, "
                    f"{literal(m['key_id'])}, {ctx}) ELSE s.{ident(c + SHADOW_SUFFIX)} END")
        if c in m["blind_index"]:
            sets.append(f"{ident(c + BIDX_SUFFIX)} = CASE WHEN {_older(c)} THEN colcrypt.blind_index({plain}, "
                        f"{literal(m['key_id'])}, {literal(column)}) "
                        f"ELSE s.{ident(c + BIDX_SUFFIX)} END")
    match = " AND ".join(f"s.{k} = b.{k}" for k in keys)
    order = ", ".join(f"s.{k}" for k in keys)
    last = "ARRAY[" + ", ".join(f"(b.{k})::text" for k in keys) + "]"
    return f"""
WITH b AS (
    SELECT {', '.join(f's.{k}' for k in keys)} FROM {m['shadow']} AS s
    WHERE $1 IS NULL OR ({order}) > ({after}) ORDER BY {order} LIMIT $2
), u AS (
    UPDATE {m['shadow']} AS s SET {', '.join(sets)}
    FROM b WHERE {match} AND ({' OR '.join(_older(c) for c in m['columns'])})
    RETURNING 1
)
SELECT (SELECT count(*) FROM b)::int AS seen, (SELECT count(*) FROM u)::int AS done,
       (SELECT {last} FROM b ORDER BY {', '.join(f'b.{k} DESC' for k in keys)} LIMIT 1) AS last
"""


def reencrypt(plpy, table: str, oid: int | None, batch_size: int, sleep, max_runtime=None) -> None:
    pin(plpy)  # the table's name was resolved with the caller's search_path; nothing else is
    m = _migration(plpy, table, oid, batch_size)
    active = query(plpy, ACTIVE_SQL, ["text"], [m["key_id"]])
    if not active:
        fail(plpy, "KC007", f"key {m['key_id']} of {table} has no active version to encrypt with",
             "Rotate or create the key first (colcrypt keys rotate).")
    version = active[0]["version"]
    _use_active(plpy, m["key_id"], version)
    quiet = query(plpy, SHADOW_TRIGGERS_SQL, ["oid"], [m["shadow_oid"]])[0]["n"] > 0  # (DDL on it is refused)
    if quiet and not \
            plpy.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0]["rolsuper"]:
        fail(plpy, "42501", f"the shadow of {table} has the table's triggers, which re-encryption must not fire",
             "Run colcrypt.reencrypt as a superuser (it sets session_replication_role = replica per batch).")
    types = {r["name"]: r["type"] for r in query(plpy, KEY_TYPES_SQL, ["oid", "text[]"],
                                                   [m["shadow_oid"], list(m["key_columns"])])}
    batch = batch_sql(m, types)
    pause = interval_seconds(plpy, sleep) or 0.0
    limit = interval_seconds(plpy, max_runtime)
    started, seen, done, clean = time.monotonic(), 0, 0, False
    log_event(plpy, m["migration_id"], m["table_name"], "reencrypt start", {"version": version})
    while not clean:  # passes over the table until one finds nothing left (or the time is up)
        last, moved = None, 0
        while True:
            if quiet:
                plpy.execute("SET LOCAL session_replication_role = replica")  # the table's triggers stay quiet
            r = as_owner(plpy, m["shadow_oid"], batch, ["text[]", "int4", "int4"], [last, batch_size, version])[0]
            commit(plpy)
            seen, moved, last = seen + r["seen"], moved + r["done"], r["last"]
            if r["seen"] < batch_size or (limit is not None and time.monotonic() - started >= limit):
                break
            if pause:
                time.sleep(pause)
        done += moved
        clean = r["seen"] < batch_size and moved == 0
        if limit is not None and time.monotonic() - started >= limit:
            break
    log_event(plpy, m["migration_id"], m["table_name"], "reencrypt",
              {"version": version, "rows": seen, "reencrypted": done, "clean": clean,
               "seconds": round(time.monotonic() - started, 2)})
    if clean:  # the job that runs it (colcrypt.schedule_reencrypt) is no longer needed
        schedule.retire_reencrypt_job(plpy, m)
    plpy.notice(f"colcrypt: {table}: {done:,} rows re-encrypted under {m['key_id']} version {version}; "
                + ("no value left under an older version" if clean else "stopped at p_max_runtime: call it again"))


def _use_active(plpy, key_id: str, version: int) -> None:
    """This session may hold an older version of the key as its active one (loaded before the
    rotation); values would be encrypted under it again. Keys it got from the server are dropped to
    be loaded afresh; keys the client loaded cannot be, so that is refused."""
    stale = query(plpy, "SELECT version, source FROM colcrypt.loaded_keys() WHERE key_id = $1 AND active"
                        " AND version <> $2", ["text", "int4"], [key_id, version])
    if not stale:
        return
    if any(r["source"] != "server" for r in stale):
        fail(plpy, "KC007", f"this session loaded version {stale[0]['version']} of key {key_id} as its active "
                            f"version, but version {version} is active now",
             "Load the key again (a new colcrypt.connect) so that the session has the active version, or run "
             "colcrypt.reencrypt as a role granted the key.")
    plpy.execute("SELECT colcrypt.forget_keys()")


def scheduled(plpy, table: str, oid: int | None, batch_size: int, sleep) -> int:
    """colcrypt.schedule_reencrypt: the pg_cron job for table."""
    m = _migration(plpy, table, oid, batch_size)
    return schedule.schedule_reencrypt(plpy, table, m, batch_size, interval_seconds(plpy, sleep) or 0.0)
