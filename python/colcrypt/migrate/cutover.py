"""colcrypt.cutover(table, 'reads'): the table's name becomes a view that decrypts the shadow, in
one short switch; applications keep their name and their SQL. The plaintext table stays as it is
under <table>_plaintext, with its triggers, constraints and foreign keys, and takes every write
made through the name (INSTEAD OF trigger), which its dual-write trigger copies into the shadow.
colcrypt.cutover(table, 'writes'): writes through the name go to the shadow first and then, in
reverse, to the plaintext table; the table's own triggers fire on the shadow; writes that reach the
plaintext table otherwise (cascades) go on to the shadow through its mirror trigger."""

from colcrypt.migrate import row_triggers, sequences
from colcrypt.migrate.cutover_sql import (
    create_view,
    instead_of_function,
    own_identity,
    plaintext_plan,
)
from colcrypt.migrate.preflight import READERS_WITHOUT_KEY_SQL, ROW_TYPE_USERS_SQL, preflight
from colcrypt.migrate.privileges import GRANTS_SQL, set_privileges
from colcrypt.migrate.sqlgen import generated_function, ident, literal, truncate_function
from colcrypt.migrate.state import (
    event_detail,
    find_live,
    live_migration,
    log_event,
    plan_of,
    require_state,
    set_state,
    table_layout,
)
from colcrypt.migrate.switch import lock_name, run_switch, switch_timeout
from colcrypt.migrate.writes_sql import mirror_function, writes_function
from colcrypt.plpy_helpers import execute_one, fail, interval_seconds, owner_rights, preloaded, query

STAGES = ("reads", "writes")

VALIDATION_SQL = """
SELECT passed, extract(epoch FROM clock_timestamp() - validated_at)::float8 AS age_s, validated_at::text AS at
FROM colcrypt.validations WHERE migration_id = $1 AND sample_size IS NULL ORDER BY validation_id DESC LIMIT 1
"""
DEPENDENT_VIEWS_SQL = """
SELECT DISTINCT v.oid, v.oid::regclass::text AS name, pg_get_viewdef(v.oid) AS def,
       coalesce(array_to_string(v.reloptions, ', '), '') AS options
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1
  AND v.oid <> $1 AND v.relkind = 'v'
"""
DEFAULTS_SQL = """
SELECT a.attname, CASE WHEN a.attidentity <> '' THEN
           format('nextval(%L::regclass)', pg_get_serial_sequence($2, a.attname))
       ELSE pg_get_expr(d.adbin, d.adrelid) END AS expr
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
  AND (d.adbin IS NOT NULL OR a.attidentity <> '')
"""
COMMENTS_SQL = """
SELECT d.objsubid, a.attname, d.description FROM pg_description d
LEFT JOIN pg_attribute a ON a.attrelid = d.objoid AND a.attnum = d.objsubid
WHERE d.objoid = $1 AND d.classoid = 'pg_class'::regclass
"""
RLS_SQL = "SELECT relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class WHERE oid = $1"
# Policy expressions record their columns in pg_depend.
POLICIES_ON_ENCRYPTED_SQL = """
SELECT DISTINCT p.polname::text FROM pg_policy p
JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid AND d.refobjid = p.polrelid
JOIN pg_attribute a ON a.attrelid = p.polrelid AND a.attnum = d.refobjsubid
WHERE p.polrelid = $1 AND a.attname = ANY($2)
"""
POLICIES_SQL = """
SELECT p.polname, p.polpermissive, CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
       WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS cmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END FROM unnest(p.polroles) r) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS check
FROM pg_policy p WHERE p.polrelid = $1
"""
COLCRYPT_TRIGGERS_SQL = """
SELECT t.tgrelid::regclass::text AS rel, t.tgname::text FROM pg_trigger t
WHERE (t.tgrelid = $1 OR t.tgrelid IN (SELECT relid FROM pg_partition_tree($1)))
  AND t.tgname IN ('colcrypt_dual_write', 'colcrypt_truncate')
"""


def instead_function_name(m: dict) -> str:
    return generated_function("instead", m["migration_id"])


def cutover(plpy, table: str, oid: int | None, stage: str, force: bool, lock_timeout, retries: int,
            max_validation_age) -> dict:
    if stage not in STAGES:
        fail(plpy, "KC008", f"p_stage must be one of {', '.join(STAGES)}, not {stage!r}",
             "Cut over reads first, then writes: colcrypt.cutover(table, 'reads'), then 'writes'.")
    timeout_s, age_s = switch_timeout(plpy, lock_timeout, retries), interval_seconds(plpy, max_validation_age)
    m = live_migration(plpy, table, oid, lock=True)
    if stage == "writes":
        return _cutover_writes(plpy, m, table, timeout_s, retries)
    require_state(plpy, m, ("validated", "backfilled"), "cutover reads")
    _check_validation(plpy, m, table, force, age_s)
    _check_readers(plpy, m, table, force)
    if table_layout(plpy, m):
        return _cutover_reads_to_shadow(plpy, m, table, oid, timeout_s, retries)
    plan = plan_of(plpy, m)
    _check_view_switch(plpy, m, plan, table)
    findings = preflight(plpy, table, oid)
    for f in findings:
        plpy.notice(f"colcrypt preflight: {f['kind']}: {f['detail']} -> {f['remedy']}")
    log_event(plpy, m["migration_id"], m["table_name"], "preflight", {"findings": findings})
    result = run_switch(plpy, table, [m["source_oid"], m["shadow_oid"]], lambda: _switch_reads(plpy, m, plan),
                        timeout_s, retries)
    set_state(plpy, m, "cutover_reads")
    log_event(plpy, m["migration_id"], m["table_name"], "cutover reads", result)
    return {"stage": "reads", **result}


def _cutover_reads_to_shadow(plpy, m: dict, table: str, oid: int | None, timeout_s: float, retries: int) -> dict:
    """The read cutover of a migration whose shadow becomes the table (docs/design/cutover.md): the plain
    reads of the statements clients send go to the shadow, decrypted, and the table stays what it is: the
    table of record, which takes every write. No table changes: one row of colcrypt.read_redirects, whose
    change makes every session plan its statements on the table again."""
    findings = preflight(plpy, table, oid)
    for f in findings:
        plpy.notice(f"colcrypt preflight: {f['kind']}: {f['detail']} -> {f['remedy']}")
    if not preloaded(plpy.execute("SELECT current_setting('shared_preload_libraries') AS l")[0]["l"]):
        plpy.notice("colcrypt: colcrypt is not in shared_preload_libraries: a session's reads go to the shadow once it "
                    "has loaded the module; add it and restart before the write cutover")
    log_event(plpy, m["migration_id"], m["table_name"], "preflight", {"findings": findings})
    result = run_switch(plpy, table, [m["source_oid"], m["shadow_oid"]], lambda: query(
        plpy, "INSERT INTO colcrypt.read_redirects (relation, shadow, migration_id) VALUES ($1, $2, $3)",
        ["oid", "oid", "int8"], [m["source_oid"], m["shadow_oid"], m["migration_id"]]), timeout_s, retries)
    set_state(plpy, m, "cutover_reads")
    log_event(plpy, m["migration_id"], m["table_name"], "cutover reads", result)
    return {"stage": "reads", **result}


def _check_view_switch(plpy, m: dict, plan, table: str) -> None:
    """What putting the view under the name needs (the table renamed aside, policies and row types carried)."""
    if plpy.execute(f"SELECT to_regclass({literal(plaintext_plan(plan).source)}) IS NOT NULL AS t")[0]["t"]:
        fail(plpy, "KC019", f"{plaintext_plan(plan).source} already exists",
             f"cutover renames {table} to it; rename or drop the existing relation first.")
    blocking = [r["polname"] for r in query(plpy, POLICIES_ON_ENCRYPTED_SQL, ["oid", "text[]"],
                                            [m["source_oid"], list(plan.sensitive)])]
    if blocking:
        fail(plpy, "0A000", f"row-level security policies {', '.join(blocking)} of {table} use encrypted columns",
             "The shadow holds those columns encrypted, so the policies cannot be carried over to it. Rewrite them "
             "without the encrypted columns, or keep the table as it is (SELECT colcrypt.rollback(table)).")
    takers = [u["what"] for u in query(plpy, ROW_TYPE_USERS_SQL, ["oid"], [m["source_oid"]]) if u["takes_it"]]
    if takers:
        fail(plpy, "KC027", f"{', '.join(takers)} take(s) rows of {table}, whose type stays the plaintext table's once "
                            "the name is a view: calls with the rows read through the name would fail",
             "Make them take the columns they need (or record), or drop them; then cut over. SELECT * FROM "
             "colcrypt.preflight(table) lists what uses the table's row type.")


def _check_validation(plpy, m: dict, table: str, force: bool, age_s: float | None) -> None:
    v = query(plpy, VALIDATION_SQL, ["int8"], [m["migration_id"]])
    problem = None
    if not v:
        problem = "has never been validated in full"
    elif not v[0]["passed"]:
        problem = f"failed its last full validation ({v[0]['at']})"
    elif age_s is not None and v[0]["age_s"] > age_s:
        problem = f"was last validated in full at {v[0]['at']}, longer ago than p_max_validation_age"
    if problem and not force:
        fail(plpy, "KC022", f"{table} {problem}",
             f"Run SELECT * FROM colcrypt.validate({literal(table)}) first (p_force => true skips this check).")


def _check_readers(plpy, m: dict, table: str, force: bool) -> None:
    missing = [r["role"] for r in query(plpy, READERS_WITHOUT_KEY_SQL, ["oid", "text", "text[]"],
                                        [m["source_oid"], m["key_id"], list(m["columns"])])]
    if missing and not force:
        fail(plpy, "KC023", f"role(s) {', '.join(missing)} may read {table} (or a view of its encrypted columns) "
                            "but hold no grant of key "
                            f"{m['key_id']!r}, so their reads would fail after the cutover",
             f"Grant the key: SELECT colcrypt.grant_key({literal(m['key_id'])}, 'role'); for PUBLIC, grant it to "
             "the roles that read or revoke SELECT from PUBLIC. p_force => true skips this check.")


def _switch_reads(plpy, m: dict, plan) -> None:
    """Rename the table, create the view under its name with the table's defaults, grants and
    comments, send writes through it to the table, and re-point the views that read the table. The
    table's grantees keep their privileges on the name only (with row-level security, whose writes
    the table's policies check as the caller, they keep those on the table too)."""
    oid = int(m["source_oid"])
    execute_one(plpy, f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")  # then read what it has
    dependents = [dict(r) for r in query(plpy, DEPENDENT_VIEWS_SQL, ["oid"], [oid])]
    defaults = query(plpy, DEFAULTS_SQL, ["oid", "text"], [oid, plan.source])
    comments = query(plpy, COMMENTS_SQL, ["oid"], [oid])
    grants = query(plpy, GRANTS_SQL, ["oid"], [oid])
    owner = plpy.execute(f"SELECT relowner::regrole::text AS o FROM pg_class WHERE oid = {oid}")[0]["o"]
    rls = query(plpy, RLS_SQL, ["oid"], [oid])[0]
    plain = plaintext_plan(plan)
    fn = instead_function_name(m)
    trunc_fn = generated_function("truncate", m["migration_id"])
    execute_one(plpy, f"ALTER TABLE {plan.source} RENAME TO {ident(plain.table)}")
    execute_one(plpy, truncate_function(plain, trunc_fn, replace=True))
    execute_one(plpy, create_view(plan, invoker=rls["rls"]))
    execute_one(plpy, f"ALTER VIEW {plan.source} OWNER TO {owner}")  # it reads the shadow, the owner's
    sequences_to_name(plpy, m, plain.source, plan.source, owner)
    for d in defaults:
        if d["attname"] == own_identity(plan):
            continue  # the INSTEAD OF trigger leaves it to the table
        execute_one(plpy, f"ALTER VIEW {plan.source} ALTER COLUMN {ident(d['attname'])} SET DEFAULT {d['expr']}")
    for c in comments:
        target = f"VIEW {plan.source}" if c["objsubid"] == 0 else f"COLUMN {plan.source}.{ident(c['attname'])}"
        execute_one(plpy, f"COMMENT ON {target} IS {literal(c['description'])}")
    for g in grants:
        cols = f" ({ident(g['col'])})" if g["col"] else ""
        option = " WITH GRANT OPTION" if g["is_grantable"] else ""
        execute_one(plpy, f"GRANT {g['privilege_type']}{cols} ON {plan.source} TO {g['who']}{option}")
    if rls["rls"]:
        _carry_row_security(plpy, plan, oid, rls["force"], grants)
    else:
        set_privileges(plpy, oid, oid, "REVOKE", writes_only=False)
    execute_one(plpy, instead_of_function(plain, fn, m["table_name"], invoker=rls["rls"]))
    execute_one(plpy, f"REVOKE ALL ON FUNCTION {fn}() FROM PUBLIC")
    if owner_rights(plpy):  # a definer: it runs as the owner, not the DBA
        execute_one(plpy, f"ALTER FUNCTION {fn}() OWNER TO {owner}")
    else:  # a database not updated from 0.2.0: the DBA's shadow, which the owner's view reads
        execute_one(plpy, f"GRANT SELECT ON {plan.shadow} TO {owner}")
    execute_one(plpy, f"COMMENT ON FUNCTION {fn}() IS "
                      f"{literal(f'colcrypt: writes through {plan.source} go to {plain.source}')}")
    execute_one(plpy, f"CREATE TRIGGER colcrypt_instead INSTEAD OF INSERT OR UPDATE OR DELETE ON {plan.source}"
                      f" FOR EACH ROW EXECUTE FUNCTION {fn}()")
    for d in dependents:  # their text names the table; now the name is the view
        options = f" WITH ({d['options']})" if d["options"] else ""
        execute_one(plpy, f"CREATE OR REPLACE VIEW {d['name']}{options} AS {d['def']}")
    view = plpy.execute(f"SELECT {literal(plan.source)}::regclass::oid AS o")[0]["o"]
    query(plpy, "UPDATE colcrypt.migrations SET name_view = $2 WHERE migration_id = $1", ["int8", "oid"],
          [m["migration_id"], view])
    if dependents:
        log_event(plpy, m["migration_id"], m["table_name"], "views re-pointed",
                  {"views": [d["name"] for d in dependents]})


def _carry_row_security(plpy, plan, oid: int, force: bool, grants: list) -> None:
    """Reads through the (security_invoker) view meet the table's policies on the shadow, which the
    table's readers may then read (ciphertext without the key); writes go on to the plaintext table
    with the caller's rights, so its own policies check them."""
    execute_one(plpy, f"ALTER TABLE {plan.shadow} ENABLE ROW LEVEL SECURITY")
    if force:
        execute_one(plpy, f"ALTER TABLE {plan.shadow} FORCE ROW LEVEL SECURITY")
    for p in query(plpy, POLICIES_SQL, ["oid"], [oid]):
        kind = "PERMISSIVE" if p["polpermissive"] else "RESTRICTIVE"
        using = f" USING ({p['qual']})" if p["qual"] else ""
        check = f" WITH CHECK ({p['check']})" if p["check"] else ""
        execute_one(plpy, f"CREATE POLICY {ident(p['polname'])} ON {plan.shadow} AS {kind} FOR {p['cmd']}"
                     f" TO {', '.join(p['roles'])}{using}{check}")
    for g in grants:
        if g["privilege_type"] == "SELECT" and g["col"] is None:
            execute_one(plpy, f"GRANT SELECT ON {plan.shadow} TO {g['who']}")


def _cutover_writes(plpy, m: dict, table: str, timeout_s: float, retries: int) -> dict:
    """Writes through the name go to the shadow first, then to the plaintext table in reverse; the
    table's own triggers move to the shadow (refused when they use an encrypted column).

    A migration whose read cutover sent reads to the shadow (the table layout) takes, for now, the view
    of 0.2 and its writes in this one switch: the shadow taking the name itself is the next step of
    docs/design/cutover.md."""
    require_state(plpy, m, ("cutover_reads",), "cutover writes")
    redirected = table_layout(plpy, m) and not m["view_oid"]
    if redirected:
        _check_view_switch(plpy, m, plan_of(plpy, m), table)
    plan = plan_of(plpy, m)  # after the read cutover it names the renamed table
    generated = [c.name for c in plan.columns if c.generated]
    if generated:
        fail(plpy, "0A000", f"{table} has generated columns ({', '.join(generated)}), which this version's write "
                            "cutover does not compute on the shadow",
             "Keep the read cutover (writes keep going to the plaintext table), or SELECT colcrypt.rollback(table).")
    if query(plpy, RLS_SQL, ["oid"], [m["source_oid"]])[0]["rls"]:
        fail(plpy, "0A000", f"{table} has row-level security, which this version's write cutover does not carry",
             "Keep the read cutover (its writes are checked by the table's policies), or SELECT "
             "colcrypt.rollback(table).")
    triggers = [dict(t) for t in query(plpy, row_triggers.TRIGGERS_SQL, ["oid"], [m["source_oid"]])]
    moved, called, refused = row_triggers.classify(triggers, plan.sensitive)
    if refused:
        fail(plpy, "KC024", f"trigger(s) of {table} cannot fire on the shadow or be called by the name's trigger: "
                            f"{'; '.join(refused)}",
             "Rewrite them (without the encrypted columns, or as row triggers without WHEN); until then keep the "
             "read cutover (writes keep going to the plaintext table, where they fire).")
    def steps() -> None:  # each attempt from the same start (a failed one is rolled back)
        now, now_plan = m, plan
        if redirected:
            query(plpy, "DELETE FROM colcrypt.read_redirects WHERE migration_id = $1", ["int8"], [m["migration_id"]])
            _switch_reads(plpy, m, plan)
            now = find_live(plpy, m["source_oid"])
            now_plan = plan_of(plpy, now)
        _switch_writes(plpy, now, now_plan, moved, called)

    result = run_switch(plpy, table, [o for o in (m["source_oid"], m["shadow_oid"], m["view_oid"]) if o], steps,
                        timeout_s, retries)
    set_state(plpy, m, "cutover_writes")
    log_event(plpy, m["migration_id"], m["table_name"], "cutover writes",
              {**result, "triggers": [t["name"] for t in moved + called], "called": called,
               "enabled": {t["name"]: t["enabled"] for t in moved + called}})
    return {"stage": "writes", **result}


def _switch_writes(plpy, m: dict, plan, moved: list[dict], called: list[dict]) -> None:
    lock_name(plpy, m["view_oid"])
    execute_one(plpy, f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")
    dual_write = generated_function("dual_write", m["migration_id"])
    execute_one(plpy, mirror_function(plan, dual_write, called))
    for t in moved:
        row_triggers.moved_to(plpy, t, plan.shadow, m["shadow_oid"])
    for t in moved + called:
        execute_one(plpy, f"ALTER TABLE {plan.source} DISABLE TRIGGER {ident(t['name'])}")
    sequences_to_view(plpy, m, plan.source)
    plan = plan_of(plpy, m)  # with the identity columns given to the name
    execute_one(plpy, writes_function(plan, instead_function_name(m), m["table_name"], reverse_tag=dual_write,
                                      identity_seq=identity_sequence(plpy, m, plan), called=called))


def sequences_to_name(plpy, m: dict, table: str, name: str, owner: str) -> None:
    """The sequences the table's columns still own go to the name's columns (sequences.to_name), logged: at
    the read cutover, or at a later switch for a migration cut over by 0.2.0 or given a serial column since."""
    moved = sequences.to_name(plpy, m["source_oid"], table, name, owner)
    if moved["identity"] or moved["serial"]:
        log_event(plpy, m["migration_id"], m["table_name"], sequences.EVENT, moved)


def sequences_to_view(plpy, m: dict, table: str) -> None:
    """sequences_to_name for a migration whose name is a view already (a later switch)."""
    name = query(plpy, "SELECT $1::regclass::text AS n, relowner::regrole::text AS o FROM pg_class WHERE oid = $1",
                 ["oid"], [m["view_oid"]])[0]
    sequences_to_name(plpy, m, table, name["n"], name["o"])


def called_triggers(plpy, m: dict) -> list[dict]:
    """The table's triggers on encrypted columns that the name's trigger calls since the write cutover."""
    return event_detail(plpy, m, "cutover writes").get("called", [])


def identity_sequence(plpy, m: dict, plan) -> str | None:
    """The sequence of the table's one identity column, which the name's trigger draws from: the name's
    since the read cutover (sequences)."""
    identity = own_identity(plan)
    if identity is None:
        return None
    return query(plpy, "SELECT pg_get_serial_sequence($1::regclass::text, $2) AS s", ["oid", "text"],
                 [m["view_oid"], identity])[0]["s"]  # (each switch gives the name what the table still has)
