"""colcrypt.finalize(table): the shadow becomes the table. In one short switch its constraints move
onto the shadow: foreign keys out of the table and into it (re-pointed to the shadow's key, NOT
VALID: the rows were checked by the same constraints on the plaintext table, and cleanup validates
them; validated on a partitioned table, where PostgreSQL has no NOT VALID foreign keys) and CHECKs
on columns stored as they are; the name's trigger stops writing the plaintext table and evaluates
the CHECKs and NOT NULLs of the encrypted columns itself. The plaintext table loses its grants and
triggers and is kept, untouched, for cleanup (or a rollback, which first brings it up to date from
the shadow)."""

from colcrypt.migrate.cutover import COLCRYPT_TRIGGERS_SQL, called_triggers, identity_sequence, instead_function_name
from colcrypt.migrate.foreign_keys import add_foreign_key, definition, foreign_key
from colcrypt.migrate.sqlgen import ident
from colcrypt.migrate.state import live_migration, log_event, plan_of, require_state, set_state
from colcrypt.migrate.switch import lock_name, lock_names_of, run_switch, switch_timeout
from colcrypt.migrate.writes_sql import writes_function
from colcrypt.plpy_helpers import execute_one, fail, query

# Constraints of the plaintext table and those that reference it (not the clones on partitions),
# with the columns they use and the names they render with (search_path is pinned to pg_catalog).
CONSTRAINTS_SQL = """
SELECT c.conname::text AS name, c.contype::text AS kind, c.conrelid = $1 AS own, c.conrelid::regclass::text AS rel,
       c.conrelid::oid AS rel_oid, c.confrelid::regclass::text AS ref, c.confrelid::oid AS ref_oid,
       pg_get_constraintdef(c.oid) AS def, pg_get_expr(c.conbin, c.conrelid) AS expr, c.connoinherit AS no_inherit,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE (a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey))
                OR (a.attrelid = c.confrelid AND a.attnum = ANY(c.confkey) AND c.confrelid = $1)) AS cols
FROM pg_constraint c
WHERE (c.conrelid = $1 OR c.confrelid = $1) AND c.conparentid = 0 AND c.contype IN ('f', 'c', 'u', 'x', 'p')
ORDER BY c.conname
"""

UNIQUE_ON_ENCRYPTED_SQL = """
SELECT DISTINCT ic.relname::text AS name FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = d.refobjsubid
WHERE i.indrelid = $1 AND i.indisunique AND a.attname = ANY($2)
"""


def finalize(plpy, table: str, oid: int | None, lock_timeout, retries: int) -> dict:
    timeout_s = switch_timeout(plpy, lock_timeout, retries)
    m = live_migration(plpy, table, oid, lock=True)
    require_state(plpy, m, ("cutover_writes",), "finalize")
    plan = plan_of(plpy, m)
    moves = constraint_moves(plpy, m, plan, table)
    oids = [m["source_oid"], m["shadow_oid"], m["view_oid"]] + [f["rel_oid"] for f in moves["fks_in"]]
    result = run_switch(plpy, table, oids, lambda: _switch(plpy, m, plan, moves), timeout_s, retries)
    set_state(plpy, m, "finalized")
    log_event(plpy, m["migration_id"], m["table_name"], "finalize",
              {**result, "foreign_keys_out": moves["fks_out"], "foreign_keys_in": moves["fks_in"],
               "checks_on_shadow": [c["name"] for c in moves["checks_shadow"]],
               "checks_in_trigger": [c["name"] for c in moves["checks_trigger"]]})
    return {"stage": "finalize", **result}


def constraint_moves(plpy, m: dict, plan, table: str) -> dict:
    """What moves where; refused (changing nothing) when a constraint cannot hold on ciphertext."""
    rows = [dict(r) for r in query(plpy, CONSTRAINTS_SQL, ["oid"], [m["source_oid"]])]
    sensitive = set(plan.sensitive)
    on_encrypted = [r["name"] for r in rows if r["kind"] in ("f", "u", "x", "p") and sensitive & set(r["cols"])]
    on_encrypted += [r["name"] for r in query(plpy, UNIQUE_ON_ENCRYPTED_SQL, ["oid", "text[]"],
                                              [m["source_oid"], list(sensitive)]) if r["name"] not in on_encrypted]
    if on_encrypted:
        fail(plpy, "0A000", f"constraint(s) {', '.join(on_encrypted)} of {table} compare values of encrypted columns,"
                            " which the shadow cannot do on ciphertext (each value has its own nonce)",
             "Keep the write cutover (the plaintext table still enforces them), drop them, or SELECT "
             "colcrypt.rollback(table).")
    fks = [r for r in rows if r["kind"] == "f"]
    checks = [r for r in rows if r["kind"] == "c"]
    return {
        "fks_out": [{k: r[k] for k in ("name", "def", "ref", "ref_oid")} for r in fks if r["own"]],
        "fks_in": [{k: r[k] for k in ("name", "def", "ref", "ref_oid", "rel", "rel_oid")} for r in fks if not r["own"]],
        "checks_shadow": [c for c in checks if not sensitive & set(c["cols"])],
        "checks_trigger": [c for c in checks if sensitive & set(c["cols"])],
    }


def _switch(plpy, m: dict, plan, moves: dict) -> None:
    lock_name(plpy, m["view_oid"])
    lock_names_of(plpy, [f["rel_oid"] for f in moves["fks_in"]] + [f["ref_oid"] for f in moves["fks_out"]],
                  but=m["view_oid"])
    children = sorted({f["rel"] for f in moves["fks_in"]})  # before the table: their writers lock them first
    if children:
        execute_one(plpy, f"LOCK TABLE {', '.join(children)} IN ACCESS EXCLUSIVE MODE")
    execute_one(plpy, f"LOCK TABLE {plan.source}, {plan.shadow} IN ACCESS EXCLUSIVE MODE")
    for fk in moves["fks_out"]:  # a self-reference points at the shadow too
        parts = foreign_key(plpy, m["source_oid"], fk["name"])
        ref = plan.shadow if parts["ref_oid"] == m["source_oid"] else fk["ref"]
        add_foreign_key(plpy, plan.shadow, fk["name"], definition(parts, ref))
        execute_one(plpy, f"ALTER TABLE {plan.source} DROP CONSTRAINT {ident(fk['name'])}")
    for fk in moves["fks_in"]:
        parts = foreign_key(plpy, fk["rel_oid"], fk["name"])
        execute_one(plpy, f"ALTER TABLE {fk['rel']} DROP CONSTRAINT {ident(fk['name'])}")
        add_foreign_key(plpy, fk["rel"], fk["name"], definition(parts, plan.shadow))
    for c in moves["checks_shadow"]:
        execute_one(plpy, f"ALTER TABLE {plan.shadow} ADD CONSTRAINT {ident(c['name'])} CHECK ({c['expr']})"
                          f"{' NO INHERIT' if c['no_inherit'] else ''} NOT VALID")
    for t in query(plpy, COLCRYPT_TRIGGERS_SQL, ["oid"], [m["source_oid"]]):  # nothing writes it any more
        execute_one(plpy, f"ALTER TABLE {t['rel']} DISABLE TRIGGER {ident(t['tgname'])}")
    execute_one(plpy, final_function(plpy, m, plan, moves))


def final_function(plpy, m: dict, plan, moves: dict, identity_seq: str | None = None) -> str:
    required = [c.name for c in plan.columns if c.name in plan.sensitive and c.not_null]
    return writes_function(plan, instead_function_name(m), m["table_name"], reverse_tag=None,
                           identity_seq=identity_seq or identity_sequence(plpy, m, plan),
                           checks=[(c["name"], c["expr"]) for c in moves["checks_trigger"]], required=required,
                           called=called_triggers(plpy, m))

