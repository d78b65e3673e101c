"""The table's own triggers at the write cutover. Those that do not use an encrypted column move to
the shadow (they fire there, on the ciphertext row). Row triggers that do use one (a BEFORE trigger
that normalizes an e-mail address, an AFTER trigger that reads it) cannot: the name's trigger calls
their functions itself, on the plaintext row, with colcrypt.call_trigger. What neither way can
carry is refused (KC024)."""

import re

from colcrypt.migrate.sqlgen import ident, literal

TRIGGERS_SQL = """
SELECT t.tgname::text AS name, t.tgrelid = $1 AS own, pg_get_triggerdef(t.oid) AS def, p.prosrc AS src,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS rendered, t.tgfoid::regprocedure::text AS function,
       (t.tgtype & 1) <> 0 AS per_row, CASE WHEN (t.tgtype & 2) <> 0 THEN 'BEFORE' ELSE 'AFTER' END AS timing,
       (t.tgtype & 64) <> 0 AS instead, t.tgqual IS NOT NULL AS has_when,
       t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL AS transition, l.lanname IN ('c', 'internal') AS compiled,
       array_remove(ARRAY[CASE WHEN (t.tgtype & 4) <> 0 THEN 'INSERT' END,
                          CASE WHEN (t.tgtype & 16) <> 0 THEN 'UPDATE' END,
                          CASE WHEN (t.tgtype & 8) <> 0 THEN 'DELETE' END], NULL) AS events,
       ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.tgrelid AND a.attnum = ANY(t.tgattr))
           AS columns,
       t.tgargs AS raw_args
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_language l ON l.oid = p.prolang
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
        elif not t["per_row"] or t["has_when"] or t["transition"] or t["compiled"]:
            refused.append(f"{t['name']} (uses an encrypted column, and is statement-level, has a WHEN clause,"
                           " transition tables or a C function)")
        else:
            raw = bytes(t["raw_args"] or b"")
            called.append({"name": t["name"], "function": t["function"], "timing": t["timing"],
                           "events": list(t["events"]), "columns": list(t["columns"]),
                           "args": [a.decode() for a in raw.split(b"\0")[:-1]]})
    return moved, called, refused


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
