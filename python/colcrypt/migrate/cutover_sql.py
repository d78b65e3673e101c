"""The SQL of the read cutover, generated from the plan: the view that takes the table's name and
serves decrypted rows from the shadow, and the INSTEAD OF trigger that sends writes through the
name on to the plaintext table (whose dual-write trigger writes the shadow). Pure Python."""

from dataclasses import replace

from colcrypt.migrate.sqlgen import SHADOW_SUFFIX, Plan, decrypt, ident, literal, trigger_function_sql

PLAINTEXT_SUFFIX = "_plaintext"
# Key types whose output function gives exactly what ::text gives (not char(n), inet or boolean),
# so the C function builds the same context as the triggers and the backfill did.
KEYED_TYPES = {"smallint", "integer", "bigint", "text", "character varying", "uuid"}


def plaintext_plan(plan: Plan) -> Plan:
    """The same plan, naming the plaintext table by the name it has after the cutover."""
    return replace(plan, table=plan.table + PLAINTEXT_SUFFIX, shadow_table=plan.shadow_name)


def create_view(plan: Plan, invoker: bool = False) -> str:
    """The table's columns in their order, types and names, the sensitive ones decrypted. invoker:
    the caller's privileges and row-level security policies apply to the shadow (for a table with
    row-level security), not the view owner's."""
    cols = [f"{view_decrypt(plan, c.name)} AS {ident(c.name)}" if c.name in plan.sensitive else f"e.{ident(c.name)}"
            for c in plan.columns]
    options = " WITH (security_invoker = true)" if invoker else ""
    return f"CREATE VIEW {plan.source}{options} AS\nSELECT " + ",\n       ".join(cols) + f"\nFROM {plan.shadow} AS e"


def view_decrypt(plan: Plan, column: str, row: str = "e") -> str:
    """A shadow value decrypted; for a one-column key the context is built in C from the key itself
    (the same context: prefix || key::text), which is what makes primary-key lookups cheap."""
    if len(plan.key_columns) > 1 or plan.type_of(plan.key_columns[0]).split("(")[0] not in KEYED_TYPES:
        return decrypt(plan, column, row)
    value = (f"colcrypt.decrypt_column({row}.{ident(column + SHADOW_SUFFIX)},"
             f" {literal(plan.column_context(column) + '#')}, {row}.{ident(plan.key_columns[0])})")
    return f"({value})::{plan.type_of(column)}"


def _unchanged(plan: Plan, row: str) -> str:
    """The row still holds what the statement read through the view (OLD). Compared as text, which
    every type has (json, point and xml have no equality)."""
    cols = ", ".join(f"{row}.{ident(c.name)}" for c in plan.columns)
    old = ", ".join(f"OLD.{ident(c.name)}" for c in plan.columns)
    return f"ROW({cols})::text IS NOT DISTINCT FROM ROW({old})::text"


def instead_of_function(plan: Plan, function: str, name: str, invoker: bool = False) -> str:
    """INSERT, UPDATE and DELETE through the view (name: as applications know it), applied to the
    plaintext table (plan names it already), so that its defaults, constraints, foreign keys and
    triggers act as before. RETURNING shows the row as the table stored it. A row changed by
    another transaction since the statement read it raises serialization_failure instead of
    overwriting that change (a table would have re-read the row; a view cannot re-run the
    statement's expressions). invoker: the writes run with the caller's privileges, so that the
    table's row-level security policies check them as before."""
    writable = [c for c in plan.columns if not c.generated]
    # an identity column GENERATED ALWAYS cannot be updated (except to DEFAULT): left as it is
    sets = ", ".join(f"{ident(c.name)} = NEW.{ident(c.name)}" for c in writable if c.identity != "a")
    insert = _insert(plan, writable)
    key = " AND ".join(f"t.{ident(k)} = OLD.{ident(k)}" for k in plan.key_columns)
    # still there but no longer what the statement read: changed meanwhile (a row that is unchanged
    # was skipped by a BEFORE trigger of the table's returning NULL)
    changed = f"""IF EXISTS (SELECT FROM {plan.source} AS t WHERE {key} AND NOT ({_unchanged(plan, 't')})) THEN
            RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                MESSAGE = {literal(f'colcrypt: a row of {name} changed since this statement read it')},
                HINT = 'Another transaction updated it concurrently; retry the transaction.';
        END IF;
        RETURN NULL;"""
    return trigger_function_sql(function, f"""BEGIN
    IF TG_OP = 'INSERT' THEN
        {insert}
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        UPDATE {plan.source} AS t SET {sets}
        WHERE {key} AND {_unchanged(plan, 't')}
        RETURNING t.* INTO NEW;
    ELSE
        DELETE FROM {plan.source} AS t WHERE {key} AND {_unchanged(plan, 't')};
    END IF;
    IF NOT FOUND THEN
        {changed}
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RETURN NEW;
    END IF;
    RETURN OLD;
END""", definer=not invoker)


def own_identity(plan: Plan) -> str | None:
    """The table's one identity column, which the INSTEAD OF trigger leaves to the table when no
    value is given (a view default would run nextval as the caller, who needs no sequence grant for
    an identity column); None when there is none or several (then the view gets their defaults)."""
    identity = [c.name for c in plan.columns if c.identity]
    return identity[0] if len(identity) == 1 else None


def _insert(plan: Plan, writable: list) -> str:
    def statement(cols: list) -> str:
        overriding = " OVERRIDING SYSTEM VALUE" if any(c.identity == "a" for c in cols) and not own_identity(plan) \
            else ""
        return (f"INSERT INTO {plan.source} AS t ({', '.join(ident(c.name) for c in cols)}){overriding}"
                f" VALUES ({', '.join(f'NEW.{ident(c.name)}' for c in cols)}) RETURNING t.* INTO NEW;")
    identity = own_identity(plan)
    if identity is None:
        return statement(writable)
    without = statement([c for c in writable if c.name != identity])
    given = statement(writable)
    if next(c for c in plan.columns if c.name == identity).identity == "a":  # the table no longer says so
        given = f"""RAISE EXCEPTION USING ERRCODE = 'generated_always', COLUMN = {literal(identity)},
                MESSAGE = {literal(f'cannot insert a non-DEFAULT value into column "{identity}"')},
                HINT = 'It is an identity column defined as GENERATED ALWAYS; leave it out.';"""
    return (f"IF NEW.{ident(identity)} IS NULL THEN\n            {without}"
            f"\n        ELSE\n            {given}\n        END IF;")
