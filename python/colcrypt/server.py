"""Server-side key access, called by the PL/Python shim colcrypt._unwrap_key.

Runs inside the server with its own /usr/bin/python3; imports nothing but the standard library,
cryptography and colcrypt's provider code. plpy is passed in, so unit tests can pass a fake.
"""

import struct

from colcrypt.errors import ColcryptError
from colcrypt.providers import local

GRANT_SQL = """
SELECT EXISTS (
    SELECT 1 FROM colcrypt.key_grants AS g
    WHERE g.key_id OPERATOR(pg_catalog.=) $1
      AND pg_catalog.pg_has_role(current_user, g.grantee, 'MEMBER')
) AS granted
"""

KEY_SQL = """
SELECT version, provider, kek_ref, wrapped_key, state
FROM colcrypt.key_versions
WHERE key_id OPERATOR(pg_catalog.=) $1
  AND (version OPERATOR(pg_catalog.=) $2
       OR ($2 OPERATOR(pg_catalog.=) 0 AND state OPERATOR(pg_catalog.=) 'active'))
"""

_plans: dict = {}


def _query(plpy, sql: str, types: list, args: list):
    plan = _plans.get(sql)
    if plan is None:
        plan = _plans[sql] = plpy.prepare(sql, types)
    return plpy.execute(plan, args)


def unwrap_key(plpy, key_id: str, version: int, kek_file: str) -> bytes:
    """Return version (4 bytes, big-endian) || data key for a granted caller."""
    try:
        rows = _query(plpy, KEY_SQL, ["text", "int4"], [key_id, version])
        if not rows:
            what = "has no active version" if version == 0 else f"version {version} is not in colcrypt.keyring"
            plpy.error(f"colcrypt: key \"{key_id}\" {what}", sqlstate="KC004",
                       hint="See SELECT key_id, version, state FROM colcrypt.keyring; create or rotate the key.")
        if not _query(plpy, GRANT_SQL, ["text"], [key_id])[0]["granted"]:
            role = plpy.execute("SELECT current_user AS u")[0]["u"]
            plpy.error(f"colcrypt: role \"{role}\" has no access to key \"{key_id}\"", sqlstate="42501",
                       hint=f"A key administrator can run SELECT colcrypt.grant_key('{key_id}', '{role}'); "
                            "or load the key client-side with colcrypt.connect(dsn, keys=[...]).")
        row = rows[0]
        if row["provider"] != local.NAME:
            plpy.error(f"colcrypt: key {key_id} uses provider {row['provider']}, which this server cannot reach",
                       sqlstate="KC010", hint="Configure server-side access for that provider (docs/keys.md).")
        dek = local.unwrap(local.read_kek_file(kek_file), row["kek_ref"], key_id,
                           row["version"], row["wrapped_key"])
    except ColcryptError as e:
        plpy.error(f"colcrypt: {e.args[0]}", sqlstate=e.sqlstate, hint=e.hint)
    return struct.pack(">I", row["version"]) + dek
