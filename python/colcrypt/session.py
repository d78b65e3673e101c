"""Sessions with client-unwrapped keys: the data key is sealed to the backend's one-off X25519
key (colcrypt.session_public_key) and sent as a bind parameter, never as SQL text."""

from pathlib import Path

import psycopg

from colcrypt.keys import unwrap_client_side
from colcrypt.sealing import seal_for_session


def load_keys(conn: psycopg.Connection, keys: list[str], kek_file: Path | None = None) -> int:
    """Load every usable version of each key into conn's backend; return how many were loaded.

    A rollback of the transaction that loaded a session's first key drops every key of the
    session (the cache handle reverts), so this commits when the connection is not in autocommit.
    """
    loaded = 0
    for key_id in keys:
        for version, dek in unwrap_client_side(conn, key_id, kek_file):
            server_public = conn.execute("SELECT colcrypt.session_public_key()").fetchone()[0]
            conn.execute("SELECT colcrypt.load_key(%s, %s, %s)",
                         (key_id, version, seal_for_session(bytes(server_public), key_id, version, dek)))
            loaded += 1
    if not conn.autocommit:
        conn.commit()
    return loaded


def connect(dsn: str, keys: list[str] = (), kek_file: Path | None = None, **kwargs) -> psycopg.Connection:
    """psycopg.connect(dsn, **kwargs) with the given keys loaded for this session."""
    conn = psycopg.connect(dsn, **kwargs)
    try:
        load_keys(conn, list(keys), kek_file)
    except BaseException:
        conn.close()
        raise
    return conn
