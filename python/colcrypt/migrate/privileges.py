"""The plaintext table's privileges while the shadow is the table of record: its grantees lose them
(writes at the write cutover, all of them at finalize) and get back, on rollback, what the name
(the view, which took the table's grants) holds."""

from colcrypt.migrate.sqlgen import ident
from colcrypt.plpy_helpers import execute_one, query

GRANTS_SQL = """
SELECT g.*, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END AS who FROM (
    SELECT NULL::name AS col, x.grantee, x.privilege_type, x.is_grantable FROM pg_class c, aclexplode(c.relacl) x
    WHERE c.oid = $1
    UNION ALL
    SELECT a.attname, x.grantee, x.privilege_type, x.is_grantable FROM pg_attribute a, aclexplode(a.attacl) x
    WHERE a.attrelid = $1 AND a.attacl IS NOT NULL
) AS g
"""

WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


def set_privileges(plpy, table_oid: int, grants_of: int, verb: str, writes_only: bool = True) -> None:
    """REVOKE from the table the (write) privileges its grantees, not its owner, hold; or GRANT them
    back as grants_of holds them."""
    owner = plpy.execute(f"SELECT relowner AS o FROM pg_class WHERE oid = {int(table_oid)}")[0]["o"]
    table = plpy.execute(f"SELECT {int(table_oid)}::regclass::text AS t")[0]["t"]
    for g in query(plpy, GRANTS_SQL, ["oid"], [grants_of]):
        if (writes_only and g["privilege_type"] not in WRITES) or g["grantee"] == owner:
            continue
        cols = f" ({ident(g['col'])})" if g["col"] else ""
        if verb == "REVOKE":
            execute_one(plpy, f"REVOKE {g['privilege_type']}{cols} ON {table} FROM {g['who']}")
        else:
            option = " WITH GRANT OPTION" if g["is_grantable"] else ""
            execute_one(plpy, f"GRANT {g['privilege_type']}{cols} ON {table} TO {g['who']}{option}")
