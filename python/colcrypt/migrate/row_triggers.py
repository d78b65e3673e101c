"""The table's own triggers at the write cutover. Those that do not use an encrypted column move to
the shadow (they fire there, on the ciphertext row). Row triggers that do use one (a BEFORE trigger
that normalizes an e-mail address, an AFTER trigger that reads it) cannot: the name's trigger calls
their functions itself, on the plaintext row, with colcrypt.call_trigger. What neither way can
carry is refused (KC024)."""

import re

from colcrypt.migrate.sqlgen import ident, literal
from colcrypt.plpy_helpers import execute_one, fail, query

TRIGGERS_SQL = """
SELECT t.oid AS trigger_oid, t.tgname::text AS name, t.tgrelid = $1 AS own, pg_get_triggerdef(t.oid) AS def,
       p.prosrc AS src, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS rendered,
       t.tgfoid::regprocedure::text AS function,
       quote_ident(pn.nspname) || '.' || quote_ident(p.proname) AS function_name,
       (t.tgtype & 1) <> 0 AS per_row, CASE WHEN (t.tgtype & 2) <> 0 THEN 'BEFORE' ELSE 'AFTER' END AS timing,
       (t.tgtype & 64) <> 0 AS instead, t.tgqual IS NOT NULL AS has_when,
       t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL AS transition, l.lanname IN ('c', 'internal') AS compiled,
       array_remove(ARRAY[CASE WHEN (t.tgtype & 4) <> 0 THEN 'INSERT' END,
                          CASE WHEN (t.tgtype & 16) <> 0 THEN 'UPDATE' END,
                          CASE WHEN (t.tgtype & 8) <> 0 THEN 'DELETE' END,
                          CASE WHEN (t.tgtype & 32) <> 0 THEN 'TRUNCATE' END], NULL) AS events,
       ARRAY(SELECT a.attname::text FROM unnest(t.tgattr::int2[]) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
       t.tgargs AS raw_args, t.tgenabled::text AS enabled, t.tgconstraint <> 0 AS is_constraint,
       CASE WHEN t.tgconstrrelid <> 0 THEN t.tgconstrrelid::regclass::text END AS constraint_from,
       t.tgdeferrable AS deferrable, t.tginitdeferred AS deferred,
       t.tgoldtable::text AS old_table, t.tgnewtable::text AS new_table
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_language l ON l.oid = p.prolang
JOIN pg_namespace pn ON pn.oid = p.pronamespace
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (t.tgrelid = $1 OR t.tgrelid IN (SELECT relid FROM pg_partition_tree($1))) AND NOT t.tgisinternal
  AND t.tgparentid = 0 AND t.tgname NOT LIKE 'colcrypt%' AND t.tgenabled <> 'D'
ORDER BY t.tgname
"""


def uses_encrypted(trigger: dict, sensitive) -> bool:
    return any(re.search(rf"(?<![\w\"]){re.escape(c)}(?![\w\"])", trigger["src"], re.IGNORECASE) for c in sensitive)


def classify(triggers: list[dict], sensitive) -> tuple[list[dict], list[dict], list[str]]:
    """(moved to the shadow, called by the name's trigger, refused)."""
    moved, called, refused = [], [], []
    for t in triggers:
        if not t["own"]:
            refused.append(f"{t['name']} (on a partition)")
        elif not uses_encrypted(t, sensitive):
            moved.append(t)
        elif not t["per_row"] or t["has_when"] or t["transition"] or t["compiled"] or t["is_constraint"]:
            refused.append(f"{t['name']} (uses an encrypted column, and is statement-level, a constraint trigger,"
                           " has a WHEN clause, transition tables or a C function)")
        else:
            called.append({"name": t["name"], "function": t["function"], "timing": t["timing"],
                           "events": list(t["events"]), "columns": list(t["columns"]), "args": args_of(t),
                           "enabled": t["enabled"]})
    return moved, called, refused


def args_of(t: dict) -> list[str]:
    return [a.decode() for a in bytes(t["raw_args"] or b"").split(b"\0")[:-1]]


MARKS = (" WHEN (", ") EXECUTE FUNCTION ")  # around the condition in pg_get_triggerdef's text


def _condition(plpy, t: dict) -> str:
    """The WHEN condition as the server renders it. PostgreSQL renders it only inside the whole
    definition, between the first MARKS[0] and the last MARKS[1]; when a name or an argument the owner
    chose holds either, it could be cut wrong, so the move is refused. (The statement built with it runs
    only as one statement, and moved_to() checks the trigger it made.)"""
    chosen = [t["name"], t["rendered"], t["function_name"], t["constraint_from"] or "", t["old_table"] or "",
              t["new_table"] or "", *t["columns"], *args_of(t)]
    if any(mark.strip() in text for mark in MARKS for text in chosen):
        fail(plpy, "KC024", f"trigger {t['name']} cannot be made again on the shadow: its name, table, function or "
                            "arguments hold the text that surrounds its WHEN condition",
             "Rename it (or its function), or rewrite its condition inside the function; until then keep the "
             "read cutover.")
    start = t["def"].index(MARKS[0]) + len(MARKS[0])
    return t["def"][start:t["def"].rindex(MARKS[1])]


def create_on(plpy, t: dict, table: str) -> str:
    """CREATE TRIGGER for a TRIGGERS_SQL row on another table, built from the catalog's parts."""
    events = " OR ".join(f"UPDATE OF {', '.join(ident(c) for c in t['columns'])}" if e == "UPDATE" and t["columns"]
                         else e for e in t["events"])
    timing = "INSTEAD OF" if t["instead"] else t["timing"]
    sql = f"CREATE {'CONSTRAINT ' if t['is_constraint'] else ''}TRIGGER {ident(t['name'])} {timing} {events} ON {table}"
    if t["is_constraint"]:
        sql += f" FROM {t['constraint_from']}" if t["constraint_from"] else ""
        sql += (" DEFERRABLE INITIALLY " + ("DEFERRED" if t["deferred"] else "IMMEDIATE")) if t["deferrable"] \
            else " NOT DEFERRABLE"
    transitions = [f"{kind} TABLE AS {ident(name)}" for kind, name in (("OLD", t["old_table"]), ("NEW", t["new_table"]))
                   if name]
    if transitions:
        sql += " REFERENCING " + " ".join(transitions)
    sql += f" FOR EACH {'ROW' if t['per_row'] else 'STATEMENT'}"
    if t["has_when"]:
        sql += f" WHEN ({_condition(plpy, t)})"
    return sql + f" EXECUTE FUNCTION {t['function_name']}({', '.join(literal(a) for a in args_of(t))})"


ENABLE = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}


def moved_to(plpy, t: dict, table: str, table_oid: int) -> None:
    """The trigger made again on table, enabled as it was; refused (KC024) unless its definition is
    then the old one's but for the table."""
    execute_one(plpy, create_on(plpy, t, table))
    if t["enabled"] != "O":
        execute_one(plpy, f"ALTER TABLE {table} {ENABLE[t['enabled']]} TRIGGER {ident(t['name'])}")
    new = query(plpy, "SELECT pg_get_triggerdef(t.oid) AS def, quote_ident(n.nspname) || '.' || quote_ident(c.relname)"
                      " AS rendered FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                      " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgrelid = $1 AND t.tgname = $2",
                ["oid", "text"], [table_oid, t["name"]])[0]
    if new["def"].replace(f" ON {new['rendered']} ", " ON ", 1) != t["def"].replace(f" ON {t['rendered']} ", " ON ", 1):
        fail(plpy, "KC024", f"trigger {t['name']} could not be made again on {table} as it is",
             "Its definition did not survive the move (an unusual WHEN condition or arguments); rewrite it, or keep "
             "the read cutover, where the table's triggers fire on the plaintext table.")


def _call(t: dict) -> str:
    args = "ARRAY[" + ", ".join(literal(a) for a in t["args"]) + "]::text[]"
    return (f"colcrypt.call_trigger({literal(t['function'])}::regprocedure, {literal(t['name'])}, {args}, "
            f"{literal(t['timing'])}, TG_OP, NEW, OLD)")


def _when(t: dict, op: str) -> str:
    """UPDATE OF columns: the name's trigger cannot see the statement's SET list, so it fires when one
    of them changes."""
    if op != "UPDATE" or not t["columns"]:
        return ""
    changed = " OR ".join(f"NEW.{ident(c)}::text IS DISTINCT FROM OLD.{ident(c)}::text" for c in t["columns"])
    return f" AND ({changed})"


def before(called: list[dict], skip: str = "RETURN NULL;") -> str:
    """BEFORE row triggers, in name order, on NEW (DELETE: OLD); skip: what a trigger's NULL does."""
    out = []
    for t in (t for t in called if t["timing"] == "BEFORE"):
        for op in t["events"]:
            if op == "DELETE":
                out.append(f"IF TG_OP = 'DELETE' THEN\n        IF {_call(t)} IS NULL THEN\n            {skip}\n"
                           "        END IF;\n    END IF;")
            else:
                out.append(f"IF TG_OP = '{op}'{_when(t, op)} THEN\n        NEW := {_call(t)};\n"
                           f"        IF NEW IS NULL THEN\n            {skip}\n        END IF;\n    END IF;")
    return "".join(f"\n    {s}" for s in out)


def after(called: list[dict], op: str) -> str:
    """AFTER row triggers for op, called once the row is written (not queued to the statement's end)."""
    out = []
    for t in (t for t in called if t["timing"] == "AFTER" and op in t["events"]):
        when = _when(t, op)
        out.append(f"IF TRUE{when} THEN\n            PERFORM {_call(t)};\n        END IF;" if when
                   else f"PERFORM {_call(t)};")
    return "".join(f"\n        {s}" for s in out)
