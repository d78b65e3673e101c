"""Key administration from the client: create, list, grant. Key bytes stay in this process."""

import os
from pathlib import Path

import psycopg

from colcrypt import envelope, providers
from colcrypt.errors import ColcryptError


def _new_kek(conn: psycopg.Connection, provider: str, kek: str | None, kek_file: Path | None):
    """The provider that wraps under a KEK named on the command line (local: made on first use)."""
    if provider not in providers.NAMES:
        raise ColcryptError("KC008", f"unknown key provider {provider!r}", f"Use one of: {', '.join(providers.NAMES)}.")
    if provider != "local" and not kek:
        raise ColcryptError("KC008", f"provider {provider} needs --kek", "pkcs11: a PKCS#11 URI "
                            "(pkcs11:token=...;object=...); aws-kms: a key id, alias/... or ARN.")
    return providers.for_kek(provider, kek, conn.info.dbname, kek_file, create=True)


def create_key(conn: psycopg.Connection, key_id: str, provider: str = "local",
               kek_file: Path | None = None, kek: str | None = None) -> dict:
    """A new data key, wrapped by the provider's KEK (local: kek_file, made on first use; pkcs11: the
    URI kek; aws-kms: the KMS key id, alias or ARN kek); only the wrapped form reaches the server."""
    wrapper = _new_kek(conn, provider, kek, kek_file)
    dek = os.urandom(envelope.DEK_LEN)
    version = 1
    ref, wrapped = wrapper.wrap(key_id, version, dek)
    conn.execute("SELECT colcrypt.add_key(%s, %s, %s, %s, %s, %s)",
                 (key_id, version, provider, ref, wrapped, envelope.key_check_value(dek, key_id, version)))
    path = getattr(wrapper, "path", None)
    return {"key_id": key_id, "version": version, "provider": provider, "kek_ref": ref,
            "kek_file": str(path) if path else None, "kek_file_created": getattr(wrapper, "created", False)}


def list_keys(conn: psycopg.Connection) -> list[dict]:
    cur = conn.execute(
        "SELECT key_id, version, provider, kek_ref, state, key_check_value, encryptions, created_at"
        " FROM colcrypt.keyring ORDER BY key_id, version")
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def unwrap_client_side(conn: psycopg.Connection, key_id: str, kek_file: Path | None) -> list[tuple[int, bytes]]:
    """Unwrap every usable version of key_id with its provider: [(version, data key)]."""
    rows = conn.execute(
        "SELECT version, provider, kek_ref, wrapped_key FROM colcrypt.key_versions"
        " WHERE key_id = %s AND state <> 'destroyed' ORDER BY version", (key_id,)).fetchall()
    if not rows:
        if conn.execute("SELECT 1 FROM colcrypt.key_versions WHERE key_id = %s", (key_id,)).fetchone():
            raise ColcryptError("KC007", f"key {key_id} was destroyed",
                                "Values encrypted with a destroyed key cannot be recovered.")
        raise ColcryptError("KC004", f"key {key_id} is not in colcrypt.keyring",
                            "List keys with: colcrypt keys list")
    out = []
    for version, provider, ref, wrapped in rows:
        unwrapper = providers.for_keyring(provider, ref, conn.info.dbname, kek_file)
        out.append((version, unwrapper.unwrap(key_id, version, bytes(wrapped))))
    return out


def rewrap_key(conn: psycopg.Connection, key_id: str, provider: str, kek: str | None = None,
               kek_file: Path | None = None, old_kek_file: Path | None = None) -> list[dict]:
    """KEK rotation: every usable version of key_id unwrapped with its current KEK (old_kek_file for
    a local one) and wrapped with the new one (provider, kek / kek_file), checked to unwrap to the
    same data key, and switched in one transaction; values are not touched."""
    wrapper = _new_kek(conn, provider, kek, kek_file)
    done = []
    with conn.transaction():
        for version, dek in unwrap_client_side(conn, key_id, old_kek_file):
            ref, wrapped = wrapper.wrap(key_id, version, dek)
            if providers.for_keyring(provider, ref, conn.info.dbname, kek_file).unwrap(key_id, version, wrapped) != dek:
                raise ColcryptError("KC005", f"{provider}: the new wrapping of {key_id} version {version} does not "
                                             "unwrap to the same key", "Check the new KEK; nothing was changed.")
            conn.execute("SELECT colcrypt.rewrap_key(%s, %s, %s, %s, %s, %s)",
                         (key_id, version, provider, ref, wrapped, envelope.key_check_value(dek, key_id, version)))
            done.append({"key_id": key_id, "version": version, "provider": provider, "kek_ref": ref})
    return done


ACTIVE_SQL = """
SELECT version, provider, kek_ref FROM colcrypt.key_versions WHERE key_id = %s AND state = 'active'
"""


def rotate_key(conn: psycopg.Connection, key_id: str, kek_file: Path | None = None) -> dict:
    """A new data-key version of key_id, wrapped by the same KEK as the active one, made active."""
    active = conn.execute(ACTIVE_SQL, (key_id,)).fetchone()
    if active is None:
        raise ColcryptError("KC007", f"key {key_id} has no active version to rotate",
                            "See colcrypt keys list; a destroyed key cannot be rotated.")
    old, provider, ref = active
    wrapper = providers.for_keyring(provider, ref, conn.info.dbname, kek_file)
    if provider == "local" and wrapper.ref != ref:
        raise ColcryptError("KC006", f"key {key_id} is wrapped with KEK {ref}, but the KEK file given holds "
                                     f"{wrapper.ref}", "Point --kek-file at the KEK the key was created with "
                            "(or rewrap the key first).")
    version, dek = old + 1, os.urandom(envelope.DEK_LEN)
    new_ref, wrapped = wrapper.wrap(key_id, version, dek)
    conn.execute("SELECT colcrypt.rotate_key(%s, %s, %s, %s, %s, %s)",
                 (key_id, version, provider, new_ref, wrapped, envelope.key_check_value(dek, key_id, version)))
    return {"key_id": key_id, "version": version, "retired": old, "provider": provider, "kek_ref": new_ref}


def destroy_key(conn: psycopg.Connection, key_id: str, version: int | None = None) -> int:
    """Crypto-shredding (see colcrypt.destroy_key): the number of versions destroyed."""
    return conn.execute("SELECT colcrypt.destroy_key(%s, %s)", (key_id, version)).fetchone()[0]
