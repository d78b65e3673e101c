"""A Markdown reference of the installed extension, generated from the catalog's COMMENT ON.

`render(conn)` lists every object that belongs to the extension colcrypt (pg_depend deptype 'e'),
grouped by kind and sorted by name, each with its comment; objects whose names start with '_' go to
a short "Internal" list. The output depends only on the extension's objects, so it can be committed
(docs/reference.md, written by tools/gen_reference.py) and compared in a test.
"""

from dataclasses import dataclass

import psycopg

from colcrypt.markdown import escape

# Routines are named by their identity arguments as pg_get_function_identity_arguments prints them.
MEMBERS = """
    SELECT d.objid, i.type, i.schema,
           coalesce(p.proname, i.name, i.identity) AS name,
           coalesce(i.schema || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                    i.identity) AS identity,
           obj_description(d.objid, d.classid::regclass::name) AS comment
    FROM pg_depend AS d
    JOIN pg_extension AS e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
    CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, 0) AS i
    LEFT JOIN pg_proc AS p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
    WHERE e.extname = 'colcrypt' AND d.deptype = 'e'
"""

COLUMNS = """
    SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           pg_get_expr(ad.adbin, ad.adrelid), col_description(a.attrelid, a.attnum)
    FROM pg_attribute AS a
    LEFT JOIN pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
"""

ROUTINE = """
    SELECT pg_get_function_result(p.oid), l.lanname, p.provolatile, p.prosecdef,
           has_function_privilege('public', p.oid, 'EXECUTE'),
           ARRAY(SELECT format('`%%s => %%s`', p.proargnames[n], pg_get_function_arg_default(p.oid, n))
                 FROM generate_series(1, coalesce(array_length(p.proallargtypes, 1), p.pronargs)) AS n
                 WHERE pg_get_function_arg_default(p.oid, n) IS NOT NULL ORDER BY n)
    FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
    WHERE p.oid = %s
"""

EVENT_TRIGGER = "SELECT evtevent, evttags, evtfoid::regprocedure::text FROM pg_event_trigger WHERE oid = %s"

# pg_settings lists a module's settings only once the module is loaded; any C function loads it.
SETTINGS = """
    SELECT name, vartype, boot_val, context, short_desc, extra_desc FROM pg_settings
    WHERE name LIKE 'colcrypt.%' ORDER BY name COLLATE "C"
"""

VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
SET_BY = {"user": "any session", "superuser": "a superuser's session", "sighup": "postgresql.conf, reload",
          "postmaster": "postgresql.conf, restart", "backend": "connection start",
          "superuser-backend": "a superuser, at connection start", "internal": "nobody (fixed)"}

# Sections in this order; a member of any other kind goes to "Other objects".
KINDS = {"table": "Tables", "view": "Views", "function": "Functions", "procedure": "Procedures",
         "sequence": "Sequences", "type": "Types", "composite type": "Types", "domain": "Types",
         "event trigger": "Event triggers"}


@dataclass
class Member:
    objid: int
    kind: str
    schema: str | None
    name: str
    identity: str
    comment: str | None

    @property
    def internal(self) -> bool:
        return self.name.startswith("_")


def cell(text: str | None) -> str:
    """Text for a Markdown table cell or paragraph: one line, with Markdown's special characters escaped."""
    return escape(" ".join((text or "").split()))


def members(conn: psycopg.Connection) -> list[Member]:
    """Every object of the extension, whatever its kind, with its comment (None when it has none)."""
    return sorted((Member(*row) for row in conn.execute(MEMBERS)), key=lambda m: (m.name, m.identity))


def relation(conn: psycopg.Connection, m: Member) -> list[str]:
    lines = [f"### `{m.identity}`", "", cell(m.comment), "", "| column | type | comment |", "|---|---|---|"]
    for name, type_, not_null, default, comment in conn.execute(COLUMNS, (m.objid,)):
        type_ = type_ + (" not null" if not_null else "") + (f" default {default}" if default else "")
        lines.append(f"| `{name}` | `{type_}` | {cell(comment)} |")
    return lines + [""]


def routine(conn: psycopg.Connection, m: Member) -> list[str]:
    result, language, volatility, definer, public, defaults = conn.execute(ROUTINE, (m.objid,)).fetchone()
    traits = [language] + ([VOLATILITY[volatility]] if m.kind == "function" else [])
    traits += (["security definer"] if definer else []) + [("" if public else "not ") + "executable by PUBLIC"]
    facts = ([f"Returns `{result}`."] if result else []) + ([f"Defaults: {', '.join(defaults)}."] if defaults else [])
    return [f"### `{m.identity}`", "", " ".join(facts + [f"*{', '.join(traits)}.*"]), "", cell(m.comment), ""]


def event_trigger(conn: psycopg.Connection, m: Member) -> str:
    event, tags, function = conn.execute(EVENT_TRIGGER, (m.objid,)).fetchone()
    on = event + (f" ({', '.join(tags)})" if tags else "")
    return f"| `{m.name}` | {cell(on)} | `{function}` | {cell(m.comment)} |"


def settings(conn: psycopg.Connection) -> list[str]:
    conn.execute("SELECT colcrypt._python_path()")
    rows = conn.execute(SETTINGS).fetchall()
    if not rows:
        return []
    lines = ["## Settings", "", "| setting | type | default | set by | description |", "|---|---|---|---|---|"]
    for name, vartype, default, context, short, extra in rows:
        text = cell(short) + (f" {cell(extra)}" if extra else "")
        default = f"`{default}`" if default else "''"
        lines.append(f"| `{name}` | {vartype} | {default} | {SET_BY.get(context, context)} | {text} |")
    return lines + [""]


def section(conn: psycopg.Connection, title: str, group: list[Member]) -> list[str]:
    lines = [f"## {title}", ""]
    kind = group[0].kind
    if kind in ("table", "view"):
        for m in group:
            lines += relation(conn, m)
    elif kind in ("function", "procedure"):
        for m in group:
            lines += routine(conn, m)
    elif kind == "event trigger":
        lines += ["| event trigger | on | function | comment |", "|---|---|---|---|"]
        lines += [event_trigger(conn, m) for m in group] + [""]
    else:
        lines += ["| object | comment |", "|---|---|"]
        prefix = "{} " if title == "Other objects" else ""
        lines += [f"| {prefix.format(m.kind)}`{m.identity}` | {cell(m.comment)} |" for m in group] + [""]
    return lines


def render(conn: psycopg.Connection) -> str:
    """The reference of the extension colcrypt installed in conn's database, as Markdown."""
    # Type names are printed qualified unless visible on the search_path: pin it so the text is stable.
    with conn.transaction():
        conn.execute("SET LOCAL search_path = pg_catalog")
        return _render(conn)


def _render(conn: psycopg.Connection) -> str:
    version, comment, schema = conn.execute(
        "SELECT e.extversion, obj_description(e.oid, 'pg_extension'), n.nspname FROM pg_extension AS e"
        " JOIN pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = 'colcrypt'").fetchone()
    schema_comment = conn.execute("SELECT obj_description(%s::regnamespace, 'pg_namespace')", (schema,)).fetchone()[0]
    lines = [f"# colcrypt {version} reference", "",
             "Generated from the catalog's `COMMENT ON` by `tools/gen_reference.py` (`make reference`); "
             "do not edit by hand. Every object of the extension, by kind and name.", "",
             cell(comment), "", f"Schema `{schema}`: {cell(schema_comment)}", ""]
    everything = members(conn)
    public = [m for m in everything if not m.internal]
    titles = list(dict.fromkeys(KINDS.values())) + ["Other objects"]
    for title in titles:
        group = [m for m in public if KINDS.get(m.kind, "Other objects") == title]
        if group:
            lines += section(conn, title, group)
    lines += settings(conn)
    internal = [m for m in everything if m.internal]
    if internal:
        lines += ["## Internal", "", "Used by colcrypt itself; not meant to be called.", "",
                  "| object | comment |", "|---|---|"]
        lines += [f"| {m.kind} `{m.identity}` | {cell(m.comment)} |" for m in internal] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
