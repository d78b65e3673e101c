"""The table's sequences belong to its name from the read cutover on, so that pg_get_serial_sequence(name,
column) finds them as on a table (Django's sqlsequencereset, Rails' reset_pk_sequence!, a DBA's setval after a
bulk load): a serial column's sequence is owned by the name's column; an identity column's sequence is made
again under the same name and at the same position, owned by the name's column, and the plaintext table's
column draws from it by default (an identity's own sequence cannot change hands, and two sequences would hand
out the same values). A rollback makes the column an identity column again, continuing where the sequence is.
Which columns were identity columns, and of which kind, is recorded in the migration's events, so that writes
through the name keep their rules (GENERATED ALWAYS refuses a value)."""

from colcrypt.migrate.sqlgen import ident, literal
from colcrypt.plpy_helpers import execute_one, query

# The sequences the table's columns own: 'a' by OWNED BY (serial), 'i' as identity columns.
OWNED_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS seq, quote_ident(n.nspname) AS schema,
       c.relname::text AS seq_name,
       a.attname::text AS col, a.attidentity::text AS identity, d.deptype::text AS kind,
       format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = d.objid
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1
  AND d.deptype IN ('a', 'i')
ORDER BY a.attnum
"""
GRANTS_SQL = """
SELECT x.privilege_type, x.is_grantable, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE x.grantee::regrole::text END AS who
FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = $1::regclass AND x.grantee <> c.relowner
"""
EVENT = "sequences to the name"


def _options(s: dict, with_type: bool = True) -> str:
    return (f"{'AS ' + s['type'] + ' ' if with_type else ''}INCREMENT BY {int(s['seqincrement'])}"
            f" MINVALUE {int(s['seqmin'])} MAXVALUE {int(s['seqmax'])} START WITH {int(s['seqstart'])}"
            f" CACHE {int(s['seqcache'])}"
            f"{' CYCLE' if s['seqcycle'] else ' NO CYCLE'}")


def _aside(s: dict) -> str:
    """A name for the sequence while its own name is taken."""
    return ("colcrypt_" + s["seq_name"]).encode()[:63].decode(errors="ignore")


def _position(plpy, seq: str) -> dict:
    return dict(plpy.execute(f"SELECT last_value, is_called FROM {seq}")[0])


def _set_position(plpy, seq: str, at: dict) -> None:
    query(plpy, "SELECT pg_catalog.setval($1::regclass, $2, $3)", ["text", "int8", "bool"],
          [seq, at["last_value"], at["is_called"]])


def _grant(plpy, grants: list, seq: str) -> None:
    """The privileges the sequence it replaces had (setval by the application's roles, as before)."""
    for g in grants:
        execute_one(plpy, f"GRANT {g['privilege_type']} ON SEQUENCE {seq} TO {g['who']}"
                          f"{' WITH GRANT OPTION' if g['is_grantable'] else ''}")


def to_name(plpy, table_oid: int, table: str, name: str, owner: str) -> dict:
    """Give the sequences of table's columns to name's columns (under the switch's locks); returns what
    moved ({"identity": {column: kind}, "serial": [columns]}) for the migration's events."""
    moved = {"identity": {}, "serial": []}
    for s in query(plpy, OWNED_SQL, ["oid"], [table_oid]):
        col = ident(s["col"])
        if s["kind"] == "a":
            execute_one(plpy, f"ALTER SEQUENCE {s['seq']} OWNED BY {name}.{col}")
            moved["serial"].append(s["col"])
            continue
        at = _position(plpy, s["seq"])  # nobody draws from it: the switch holds the table's lock
        grants = query(plpy, GRANTS_SQL, ["text"], [s["seq"]])
        aside = f"{s['schema']}.{ident(_aside(s))}"
        execute_one(plpy, f"CREATE SEQUENCE {aside} {_options(s)}")
        execute_one(plpy, f"ALTER TABLE {table} ALTER COLUMN {col} DROP IDENTITY")  # drops the old sequence
        execute_one(plpy, f"ALTER SEQUENCE {aside} RENAME TO {ident(s['seq_name'])}")
        _set_position(plpy, s["seq"], at)
        execute_one(plpy, f"ALTER SEQUENCE {s['seq']} OWNER TO {owner}")
        _grant(plpy, grants, s["seq"])
        execute_one(plpy, f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT"
                          f" pg_catalog.nextval({literal(s['seq'])}::pg_catalog.regclass)")
        execute_one(plpy, f"ALTER SEQUENCE {s['seq']} OWNED BY {name}.{col}")
        moved["identity"][s["col"]] = s["identity"]
    return moved


def to_table(plpy, name_oid: int, table: str, moved: dict) -> None:
    """Give the sequences back to table's columns (a rollback, before the name goes): serial columns own
    theirs again, identity columns are identity columns again, at the same position (the name's
    sequences go with the name)."""
    for s in query(plpy, OWNED_SQL, ["oid"], [name_oid]):
        col = ident(s["col"])
        if s["col"] in moved.get("serial", []):
            execute_one(plpy, f"ALTER SEQUENCE {s['seq']} OWNED BY {table}.{col}")
            continue
        kind = moved.get("identity", {}).get(s["col"])
        if kind is None:
            continue
        at = _position(plpy, s["seq"])
        grants = query(plpy, GRANTS_SQL, ["text"], [s["seq"]])
        # aside, still the name's: it goes with the view (whose defaults may draw from it)
        execute_one(plpy, f"ALTER SEQUENCE {s['seq']} RENAME TO {ident(_aside(s))}")
        execute_one(plpy, f"ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT")
        execute_one(plpy, f"ALTER TABLE {table} ALTER COLUMN {col} ADD GENERATED"
                          f" {'ALWAYS' if kind == 'a' else 'BY DEFAULT'} AS IDENTITY"
                          f" (SEQUENCE NAME {s['seq']} {_options(s, with_type=False)})")
        _set_position(plpy, s["seq"], at)
        _grant(plpy, grants, s["seq"])
