"""Foreign keys moved by a switch (finalize, rollback from finalized)."""

from colcrypt.migrate.sqlgen import ident
from colcrypt.plpy_helpers import query


def add_foreign_key(plpy, rel: str, name: str, definition: str) -> bool:
    """ADD CONSTRAINT ... NOT VALID on rel: every row already satisfied the same key, and validating would
    hold the switch's locks for a scan. PostgreSQL cannot add one NOT VALID to a partitioned table (42809),
    so there it is added validated: a scan of rel inside the switch. True when it was added NOT VALID."""
    partitioned = query(plpy, "SELECT relkind = 'p' AS p FROM pg_class WHERE oid = $1::regclass", ["text"],
                        [rel])[0]["p"]
    plpy.execute(f"ALTER TABLE {rel} ADD CONSTRAINT {ident(name)} {definition}{'' if partitioned else ' NOT VALID'}")
    return not partitioned
