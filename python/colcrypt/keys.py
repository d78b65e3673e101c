"""Key administration from the client: create, list, grant. Key bytes stay in this process."""

import os
from pathlib import Path

import psycopg

from colcrypt import envelope
from colcrypt.errors import ColcryptError
from colcrypt.providers import local


def kek_for(kek_file: Path | None, create: bool) -> tuple[bytes, Path, bool]:
    """The local KEK from kek_file (or the default), made on first use when create is true."""
    path = Path(kek_file) if kek_file else local.default_kek_file()
    if create and not path.exists():
        return local.create_kek_file(path), path, True
    return local.read_kek_file(path), path, False


def create_key(conn: psycopg.Connection, key_id: str, provider: str = "local",
               kek_file: Path | None = None) -> dict:
    if provider != "local":
        raise ColcryptError("KC010", f"provider {provider!r} is not available in this version",
                            "Use --provider local.")
    kek, path, created = kek_for(kek_file, create=True)
    dek = os.urandom(envelope.DEK_LEN)
    version = 1
    conn.execute("SELECT colcrypt.add_key(%s, %s, %s, %s, %s, %s)",
                 (key_id, version, provider, local.kek_ref(kek), local.wrap(kek, key_id, version, dek),
                  envelope.key_check_value(dek, key_id, version)))
    return {"key_id": key_id, "version": version, "provider": provider, "kek_ref": local.kek_ref(kek),
            "kek_file": str(path), "kek_file_created": created}


def list_keys(conn: psycopg.Connection) -> list[dict]:
    cur = conn.execute(
        "SELECT key_id, version, provider, kek_ref, state, key_check_value, encryptions, created_at"
        " FROM colcrypt.keyring ORDER BY key_id, version")
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def unwrap_client_side(conn: psycopg.Connection, key_id: str, kek_file: Path | None) -> list[tuple[int, bytes]]:
    """Unwrap every usable version of key_id with the local KEK: [(version, data key)]."""
    rows = conn.execute(
        "SELECT version, provider, kek_ref, wrapped_key FROM colcrypt.key_versions"
        " WHERE key_id = %s AND state <> 'destroyed' ORDER BY version", (key_id,)).fetchall()
    if not rows:
        raise ColcryptError("KC004", f"key {key_id} is not in colcrypt.keyring",
                            "List keys with: colcrypt keys list")
    kek = None
    out = []
    for version, provider, ref, wrapped in rows:
        if provider != "local":
            raise ColcryptError("KC010", f"key {key_id} uses provider {provider}, not available in this version")
        kek = kek or kek_for(kek_file, create=False)[0]
        out.append((version, local.unwrap(kek, ref, key_id, version, bytes(wrapped))))
    return out
