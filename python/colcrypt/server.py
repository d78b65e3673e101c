"""Server-side key access, called by the PL/Python shim colcrypt._unwrap_key.

Runs inside the server with its own /usr/bin/python3; imports nothing but the standard library,
cryptography and colcrypt's provider code. plpy is passed in, so unit tests can pass a fake.
"""

import json
import os
import struct

from colcrypt import providers
from colcrypt.errors import ColcryptError
from colcrypt.plpy_helpers import query
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

EXISTS_SQL = """
SELECT EXISTS (SELECT 1 FROM colcrypt.key_versions WHERE key_id OPERATOR(pg_catalog.=) $1) AS known
"""

def unwrap_key(plpy, key_id: str, version: int, context: str) -> bytes:
    """Answer the C key cache: 0x00 || version (4, BE) || data key, or 0x01 || JSON error.

    Errors go back as data so that the C side raises them with their own SQLSTATE and a clean
    message (an exception leaving PL/Python would be prefixed with its Python type name).
    """
    try:
        kek_file, _, config_file = context.partition("\n")
        version, dek = _unwrap(plpy, key_id, version, kek_file, config_file)
    except ColcryptError as e:
        return b"\x01" + json.dumps({"sqlstate": e.sqlstate, "message": f"colcrypt: {e.args[0]}",
                                      "hint": e.hint}).encode()
    return b"\x00" + struct.pack(">I", version) + dek


def _unwrap(plpy, key_id: str, version: int, kek_file: str, config_file: str = "") -> tuple[int, bytes]:
    rows = query(plpy, KEY_SQL, ["text", "int4"], [key_id, version])
    if not rows:
        hint = "See SELECT key_id, version, state FROM colcrypt.keyring; create or rotate the key."
        if not query(plpy, EXISTS_SQL, ["text"], [key_id])[0]["known"]:
            raise ColcryptError("KC004", f'key "{key_id}" is not in colcrypt.keyring', hint)
        if version == 0:
            raise ColcryptError("KC007", f'key "{key_id}" has no active version to encrypt with', hint)
        raise ColcryptError("KC004", f'key "{key_id}" version {version} is not in colcrypt.keyring', hint)
    row = rows[0]
    if row["state"] == "destroyed":  # before the grant: the keyring's states are public, and this is the news
        raise ColcryptError("KC007", f'key "{key_id}" version {row["version"]} was destroyed',
                            "Values encrypted with a destroyed key cannot be recovered.")
    if not query(plpy, GRANT_SQL, ["text"], [key_id])[0]["granted"]:
        role = plpy.execute("SELECT current_user AS u")[0]["u"]
        raise ColcryptError("42501", f'role "{role}" has no access to key "{key_id}"',
                            f"A key administrator can run SELECT colcrypt.grant_key('{key_id}', '{role}'); "
                            "or load the key client-side with colcrypt.connect(dsn, keys=[...]).")
    if row["provider"] != local.NAME:
        database = plpy.execute("SELECT current_database() AS d")[0]["d"]
        provider = providers.for_keyring(row["provider"], row["kek_ref"], database,
                                         config=provider_config(config_file, row["provider"]))
        return row["version"], provider.unwrap(key_id, row["version"], bytes(row["wrapped_key"]))
    if not kek_file:
        raise ColcryptError("KC010", f'key "{key_id}" uses the local provider and colcrypt.kek_file is not set',
                            "A superuser sets colcrypt.kek_file in postgresql.conf (docs/keys.md).")
    try:
        kek = local.read_kek_file(kek_file)
    except local.KekFileError as e:  # the path is for superusers only (colcrypt.kek_file is hidden)
        raise ColcryptError(e.sqlstate, f"the KEK file named by colcrypt.kek_file {e.reason}",
                            "A superuser can check the file named by colcrypt.kek_file: it must hold the KEK "
                            "and be readable by the server's account.") from None
    return row["version"], local.unwrap(kek, row["kek_ref"], key_id, row["version"], row["wrapped_key"])


def provider_config(path: str, provider: str) -> dict:
    """The provider's section of the file named by colcrypt.provider_config: JSON, owned by the
    server's account and readable by it alone (it may name PIN and credential files)."""
    if not path:
        raise ColcryptError("KC010", f"server-side unwrapping with provider {provider} is not configured",
                            "A superuser sets colcrypt.provider_config in postgresql.conf to a JSON file "
                            "(docs/keys.md).")
    try:
        info = os.stat(path)
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise ColcryptError("KC006", f"{provider}: the file named by colcrypt.provider_config must be owned "
                                         "by the server's account and readable by it alone",
                                "chown it to the server's account and chmod 600 it.")
        with open(path) as f:
            config = json.load(f)
    except OSError as e:
        raise ColcryptError("KC006", f"{provider}: the file named by colcrypt.provider_config cannot be read "
                                     f"({e.strerror})", "A superuser can check the path and its mode.") from None
    except ValueError:
        raise ColcryptError("KC006", f"{provider}: the file named by colcrypt.provider_config is not JSON",
                            "See docs/keys.md for its shape.") from None
    section = config.get(provider)
    if not isinstance(section, dict):
        raise ColcryptError("KC010", f"the file named by colcrypt.provider_config has no {provider!r} section",
                            "Add one (docs/keys.md).")
    return section
