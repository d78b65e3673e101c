"""Small helpers for the PL/Python shims (they receive plpy; nothing here imports it)."""

import json
from contextlib import contextmanager

_plans: dict = {}


def query(plpy, sql: str, types: list[str], args: list) -> list:
    """Rows of a parameterized query; its plan is prepared once per backend and kept."""
    plan = _plans.get((sql, tuple(types)))
    if plan is None:
        plan = _plans[(sql, tuple(types))] = plpy.prepare(sql, types)
    return list(plpy.execute(plan, args))


def execute_one(plpy, sql: str) -> None:
    """Run generated SQL (DDL) only if the parser sees one statement in it (SPI runs every statement of
    a text, prepared or not): a name or text the table's owner chose can never end one and start another."""
    if owner_rights(plpy) and query(plpy, "SELECT colcrypt._statement_count($1) AS n", ["text"], [sql])[0]["n"] != 1:
        fail(plpy, "KC028", "generated SQL would have run more than one statement",
             "A name or text the table's owner chose (an index, trigger or column name, a trigger's arguments) holds "
             "SQL. Nothing was run; rename it, or drop it, and run the step again.")
    plpy.execute(sql)


def owner_rights(plpy) -> bool:
    """Whether this database's colcrypt runs what the table's owner controls with the owner's rights
    (0.2.1 on; a database not updated yet is served as its version did)."""
    return query(plpy, "SELECT pg_catalog.to_regprocedure('colcrypt._as_owner(oid,text)') IS NOT NULL AS ok",
                 [], [])[0]["ok"]


def interval_seconds(plpy, interval: str | None) -> float | None:
    """An interval argument (PL/Python passes it as text) in seconds; None stays None."""
    if interval is None:
        return None
    return query(plpy, "SELECT extract(epoch FROM $1)::float8 AS s", ["interval"], [interval])[0]["s"]


def fail(plpy, sqlstate: str, message: str, hint: str) -> None:
    """Raise a colcrypt error from PL/Python: its SQLSTATE, "colcrypt: message", and the HINT.
    PL/Python prefixes an uncaught exception's message with its class name ("plpy.Error: ..."),
    so the class is named colcrypt and passes as a builtin: the prefix becomes our own."""
    error = type("colcrypt", (plpy.Error,), {"__module__": "builtins"})(message.removeprefix("colcrypt: "))
    error.sqlstate, error.hint = sqlstate, hint
    raise error


def caller_table(plpy, name: str | None) -> int | None:
    """The oid of the table or view an application means by name, resolved with the caller's
    search_path (so call it before pinning); None if there is none or the name is malformed."""
    if not name or not name.strip():
        return None
    try:
        with plpy.subtransaction():
            return plpy.execute(plpy.prepare("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid AS o", ["text"]),
                                [name])[0]["o"]
    except plpy.SPIError:
        return None


@contextmanager
def pinned_search_path(plpy):
    """pg_catalog, pg_temp for colcrypt's own queries, the caller's search_path again afterwards.
    (A SET clause on the function would resolve the caller's table names against pg_catalog.)"""
    old = plpy.execute("SELECT pg_catalog.current_setting('search_path') AS p")[0]["p"]
    pin(plpy)
    yield
    plpy.execute(plpy.prepare("SELECT pg_catalog.set_config('search_path', $1, true)", ["text"]), [old])


def pin(plpy) -> None:
    plpy.execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)")


def commit(plpy) -> None:
    """Commit (in a procedure), and pin search_path again for the next transaction (a SET LOCAL ends
    with each)."""
    plpy.commit()
    pin(plpy)


def as_owner(plpy, relation: int, sql: str, types: list[str] = (), args: list = ()) -> list[dict]:
    """Rows of one statement run with the rights of the owner of relation (colcrypt._as_owner: a
    security-restricted operation), so that nothing the owner controls runs with the caller's rights.
    In a database not yet updated from a version without it, as the caller, as that version did."""
    if not owner_rights(plpy):
        return [dict(r) for r in plpy.execute(plpy.prepare(sql, list(types)), list(args))]
    params = "".join(f", ${i}" for i in range(3, 3 + len(types)))
    rows = query(plpy, f"SELECT colcrypt._as_owner($1, $2{params}) AS r", ["oid", "text", *types],
                 [relation, sql, *args])
    return [json.loads(r["r"]) for r in rows]


def preloaded(shared_preload_libraries: str) -> bool:
    """Does the server load colcrypt at start (the setting's value)?"""
    return "colcrypt" in [name.strip().strip('"') for name in shared_preload_libraries.split(",")]
