"""The SQL of the write cutover and of finalize, generated from the plan (which names the plaintext
table): the INSTEAD OF function that writes the shadow first, and, until finalize, the plaintext
table after it; and the dual-write function's mirror form, which carries the writes that reach the
plaintext table without the name (cascades of foreign keys, the owner's direct writes) to the
shadow. Pure Python."""

from colcrypt.migrate import row_triggers
from colcrypt.migrate.cutover_sql import own_identity, view_decrypt
from colcrypt.migrate.sqlgen import Plan, ident, literal, shadow_values, trigger_function_sql

REVERSE_WRITE = "colcrypt.reverse_write"  # the trigger depth and function of the write in progress


def _reverse_marker(tag: str) -> str:
    return f"(pg_trigger_depth() + 1)::text || {literal(tag)}"


def mirror_function(plan: Plan, function: str, called: list[dict] = ()) -> str:
    """The dual-write trigger after the write cutover: the shadow is complete, so a write to the
    plaintext table becomes the same write to the shadow, except the reverse write of the name's
    own trigger (marked with the depth it fires at), which has written the shadow already. The
    table's triggers fire as for a write through the name (called: those on encrypted columns; a
    BEFORE trigger's NULL cannot skip a row already written), and what they change goes back to the
    plaintext table, so that the two stay equal."""
    names = plan.shadow_columns()
    values = shadow_values(plan, "NEW", "written")
    sets = ", ".join(f"{ident(n)} = {v}" for n, v in zip(names, values, strict=True))
    key = " AND ".join(f"s.{ident(k)} = OLD.{ident(k)}" for k in plan.key_columns)
    back = [c.name for c in plan.columns if c.identity != "a" and not c.generated]
    ours = ", ".join(f"NEW.{ident(c)}" if c in plan.sensitive else f"r.{ident(c)}" for c in back)
    theirs = ", ".join(f"n.{ident(c)}" for c in back)
    new_key = " AND ".join(f"t.{ident(k)} = n.{ident(k)}" for k in plan.key_columns)
    return trigger_function_sql(function, f"""DECLARE
    r record;
    n record;
    wrote boolean;
BEGIN
    IF current_setting({literal(REVERSE_WRITE)}, true) = pg_trigger_depth()::text || {literal(function)} THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM {plan.shadow} AS s WHERE {key};{row_triggers.after(list(called), 'DELETE')}
        RETURN NULL;
    END IF;
    n := NEW;{row_triggers.before(list(called), skip="NEW := n;")}
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {plan.shadow} AS s ({', '.join(ident(n) for n in names)}) VALUES ({', '.join(values)})
            RETURNING s.* INTO r;
        wrote := FOUND;{row_triggers.after(list(called), 'INSERT')}
    ELSE
        UPDATE {plan.shadow} AS s SET {sets} WHERE {key} RETURNING s.* INTO r;
        wrote := FOUND;{row_triggers.after(list(called), 'UPDATE')}
    END IF;
    IF wrote AND ROW({ours})::text IS DISTINCT FROM ROW({theirs})::text THEN
        PERFORM set_config({literal(REVERSE_WRITE)}, {_reverse_marker(function)}, true);
        UPDATE {plan.source} AS t SET ({', '.join(ident(c) for c in back)}) = ROW({ours}) WHERE {new_key};
        PERFORM set_config({literal(REVERSE_WRITE)}, '', true);
    END IF;
    RETURN NULL;
END""", replace=True)


def _checks(name: str, checks: list[tuple[str, str]], required: list[str]) -> str:
    """The table's CHECK constraints that read encrypted columns, and their NOT NULLs, evaluated on
    the row the statement writes (the shadow holds those columns encrypted, so it cannot)."""
    if not checks and not required:
        return ""
    out = []
    for col in required:
        out.append(f"""IF NEW.{ident(col)} IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation', COLUMN = {literal(col)},
            MESSAGE = {literal(f'null value in column "{col}" of {name} violates its not-null constraint')},
            HINT = 'The column was NOT NULL in the table and still is.';
    END IF;""")
    for constraint, expr in checks:
        out.append(f"""IF EXISTS (SELECT FROM (SELECT NEW.*) AS t WHERE NOT ({expr})) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = {literal(constraint)},
            MESSAGE = {literal(f'new row of {name} violates check constraint "{constraint}"')},
            HINT = 'The table''s check constraint still applies to the row.';
    END IF;""")
    return "    IF TG_OP <> 'DELETE' THEN\n    " + "\n    ".join(out) + "\n    END IF;\n"


def writes_function(plan: Plan, function: str, name: str, *, reverse_tag: str | None, identity_seq: str | None,
                    checks: list[tuple[str, str]] = (), required: list[str] = (), called: list[dict] = ()) -> str:
    """INSERT, UPDATE and DELETE through the view (name: as applications know it) written to the
    shadow, encrypted (its triggers, moved there from the table, fire; RETURNING brings back what
    they changed). reverse_tag (the dual-write function's name): the write cutover, which then
    writes the plaintext table in reverse with the same row, so that a rollback loses nothing; None:
    finalized, the shadow only, rows marked 'final' so that a rollback knows what to bring back.
    The lost-update check compares the shadow row, decrypted, with what the statement read. called:
    the table's row triggers on encrypted columns, run here on the plaintext row (row_triggers)."""
    identity = own_identity(plan)
    fill = "" if not (identity and identity_seq) else (
        f"\n    IF TG_OP = 'INSERT' AND NEW.{ident(identity)} IS NULL THEN\n        NEW.{ident(identity)} := "
        f"nextval({literal(identity_seq)}::regclass);\n    END IF;")
    if identity and next(c for c in plan.columns if c.name == identity).identity == "a":
        fill = fill.replace("END IF;", f"""ELSIF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION USING ERRCODE = 'generated_always', COLUMN = {literal(identity)},
            MESSAGE = {literal(f'cannot insert a non-DEFAULT value into column "{identity}" of {name}')},
            HINT = 'It is an identity column defined as GENERATED ALWAYS; leave it out.';
    END IF;""", 1)
    names = plan.shadow_columns()
    plain = [c for c in plan.columns if c.name not in plan.sensitive]
    back = (f" RETURNING {', '.join(f's.{ident(c.name)}' for c in plain)} INTO "
            f"{', '.join(f'NEW.{ident(c.name)}' for c in plain)}") if plain else ""
    values = shadow_values(plan, "NEW", "written" if reverse_tag else "final")
    sets = ", ".join(f"{ident(n)} = {v}" for n, v in zip(names, values, strict=True))
    key = " AND ".join(f"s.{ident(k)} = OLD.{ident(k)}" for k in plan.key_columns)
    read = ", ".join(view_decrypt(plan, c.name, "s") if c.name in plan.sensitive else f"s.{ident(c.name)}"
                     for c in plan.columns)
    old = ", ".join(f"OLD.{ident(c.name)}" for c in plan.columns)
    unchanged = f"ROW({read})::text IS NOT DISTINCT FROM ROW({old})::text"
    reverse = _reverse(plan, reverse_tag) if reverse_tag else {"INSERT": "", "UPDATE": "", "DELETE": ""}
    return trigger_function_sql(function, f"""BEGIN{fill}{row_triggers.before(list(called))}
{_checks(name, list(checks), list(required))}    IF TG_OP = 'INSERT' THEN
        INSERT INTO {plan.shadow} AS s ({', '.join(ident(n) for n in names)})
            VALUES ({', '.join(values)}){back};{reverse['INSERT']}{row_triggers.after(list(called), 'INSERT')}
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        UPDATE {plan.shadow} AS s SET {sets}
        WHERE {key} AND {unchanged}{back};
    ELSE
        DELETE FROM {plan.shadow} AS s WHERE {key} AND {unchanged};
    END IF;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM {plan.shadow} AS s WHERE {key} AND NOT ({unchanged})) THEN
            RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                MESSAGE = {literal(f'colcrypt: a row of {name} changed since this statement read it')},
                HINT = 'Another transaction updated it concurrently; retry the transaction.';
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN{reverse['UPDATE']}{row_triggers.after(list(called), 'UPDATE')}
        RETURN NEW;
    END IF;{reverse['DELETE']}{row_triggers.after(list(called), 'DELETE')}
    RETURN OLD;
END""", replace=True)


def _reverse(plan: Plan, tag: str) -> dict[str, str]:
    """The same row written to the plaintext table, marked so that its mirror trigger skips it."""
    cols = ", ".join(ident(c.name) for c in plan.columns)
    new_values = ", ".join(f"NEW.{ident(c.name)}" for c in plan.columns)
    settable = [c for c in plan.columns if c.identity != "a"]  # GENERATED ALWAYS: only ever its first value
    set_cols = ", ".join(ident(c.name) for c in settable)
    set_values = ", ".join(f"NEW.{ident(c.name)}" for c in settable)
    key = " AND ".join(f"t.{ident(k)} = OLD.{ident(k)}" for k in plan.key_columns)
    overriding = " OVERRIDING SYSTEM VALUE" if any(c.identity == "a" for c in plan.columns) else ""
    mark = f"\n        PERFORM set_config({literal(REVERSE_WRITE)}, {_reverse_marker(tag)}, true);"
    unmark = f"\n        PERFORM set_config({literal(REVERSE_WRITE)}, '', true);"
    where = f"WHERE {key};{unmark}"
    return {
        "INSERT": f"{mark}\n        INSERT INTO {plan.source} ({cols}){overriding} VALUES ({new_values});{unmark}",
        "UPDATE": f"{mark}\n        UPDATE {plan.source} AS t SET ({set_cols}) = ROW({set_values}) {where}",
        "DELETE": f"{mark}\n    DELETE FROM {plan.source} AS t {where}",
    }
