"""Foreign keys moved by a switch (finalize, rollback from finalized), rebuilt from the catalog's
parts: the columns, the referenced table and columns, MATCH, the actions and deferrability."""

from colcrypt.migrate.sqlgen import ident
from colcrypt.plpy_helpers import execute_one, query


def _names(column: str, relation: str) -> str:
    return (f"ARRAY(SELECT a.attname::text FROM unnest(c.{column}) WITH ORDINALITY AS k(n, o)"
            f" JOIN pg_attribute a ON a.attrelid = c.{relation} AND a.attnum = k.n ORDER BY k.o)")


FOREIGN_KEY_SQL = f"""
SELECT c.conname::text AS name, c.confrelid::oid AS ref_oid, c.confmatchtype::text AS match,
       c.confupdtype::text AS on_update, c.confdeltype::text AS on_delete, c.condeferrable AS deferrable,
       c.condeferred AS deferred, {_names('conkey', 'conrelid')} AS cols, {_names('confkey', 'confrelid')} AS ref_cols,
       {_names('confdelsetcols', 'conrelid')} AS delete_set_cols
FROM pg_constraint c WHERE c.conrelid = $1 AND c.conname = $2 AND c.contype = 'f'
"""
ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
MATCH = {"f": " MATCH FULL", "p": " MATCH PARTIAL", "s": ""}


def foreign_key(plpy, rel_oid: int, name: str) -> dict:
    """The foreign key name of the relation rel_oid, in parts."""
    return dict(query(plpy, FOREIGN_KEY_SQL, ["oid", "text"], [rel_oid, name])[0])


def definition(fk: dict, ref: str) -> str:
    """The foreign key fk (foreign_key()) referencing ref, a rendered relation name."""
    def cols(names) -> str:
        return ", ".join(ident(n) for n in names)

    on_delete = ACTIONS[fk["on_delete"]] + (f" ({cols(fk['delete_set_cols'])})" if fk["delete_set_cols"] else "")
    sql = (f"FOREIGN KEY ({cols(fk['cols'])}) REFERENCES {ref} ({cols(fk['ref_cols'])}){MATCH[fk['match']]}"
           f" ON UPDATE {ACTIONS[fk['on_update']]} ON DELETE {on_delete}")
    if fk["deferrable"]:
        sql += " DEFERRABLE INITIALLY " + ("DEFERRED" if fk["deferred"] else "IMMEDIATE")
    return sql


def add_foreign_key(plpy, rel: str, name: str, definition: str) -> bool:
    """ADD CONSTRAINT ... NOT VALID on rel: every row already satisfied the same key, and validating would
    hold the switch's locks for a scan. PostgreSQL cannot add one NOT VALID to a partitioned table (42809),
    so there it is added validated: a scan of rel inside the switch. True when it was added NOT VALID."""
    partitioned = query(plpy, "SELECT relkind = 'p' AS p FROM pg_class WHERE oid = $1::regclass", ["text"],
                        [rel])[0]["p"]
    execute_one(plpy, f"ALTER TABLE {rel} ADD CONSTRAINT {ident(name)} {definition}"
                      f"{'' if partitioned else ' NOT VALID'}")
    return not partitioned
