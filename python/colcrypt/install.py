"""`colcrypt install`: create or update the extension in one database, or say what is missing."""

import psycopg
from psycopg import sql

from colcrypt import __version__
from colcrypt.errors import ColcryptError
from colcrypt.plpy_helpers import preloaded

NEEDS = {
    "colcrypt": "the colcrypt extension files are not installed in this server: "
                "run `make install` on the database host (PG_CONFIG=... for another server)",
    "plpython3u": "PL/Python is not installed in this server: apt-get install postgresql-plpython3-15",
    "pgcrypto": "pgcrypto is not installed in this server: apt-get install postgresql-contrib",
}


PRELOAD_NOTE = ("colcrypt is not in shared_preload_libraries: add it (shared_preload_libraries = 'colcrypt, ...' in "
                "postgresql.conf) and restart before a read cutover. Its hooks keep COPY, CREATE INDEX and SELECT * "
                "meaning what they meant in every session's first statement (docs/design/cutover.md).")


def preload_note(conn: psycopg.Connection) -> str | None:
    """What to do when the server does not load colcrypt at start, or None."""
    libraries = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
    return None if preloaded(libraries) else PRELOAD_NOTE


def install(conn: psycopg.Connection) -> str:
    """Create or update colcrypt; return what was done. Raises ColcryptError naming what is missing."""
    available = dict(conn.execute(
        "SELECT name, installed_version FROM pg_available_extensions WHERE name = ANY(%s)",
        (list(NEEDS),)).fetchall())
    missing = [NEEDS[name] for name in NEEDS if name not in available]
    if missing:
        raise ColcryptError("KC010", "cannot install colcrypt: " + "; ".join(missing),
                            "Install the missing server packages, then run colcrypt install again.")
    installed = available["colcrypt"]
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    if installed == __version__:
        return f"colcrypt {installed} is already installed; nothing to do"
    if not superuser:
        raise ColcryptError("42501", "cannot install colcrypt: the connecting role is not a superuser",
                            "colcrypt uses plpython3u, an untrusted language: connect as a superuser "
                            "(e.g. --dsn 'user=postgres ...') for the install; applications need no superuser.")
    with conn.transaction():
        if installed is None:
            conn.execute("CREATE EXTENSION colcrypt CASCADE")
            return f"created extension colcrypt {__version__} (with pgcrypto and plpython3u)"
        conn.execute(sql.SQL("ALTER EXTENSION colcrypt UPDATE TO {}").format(sql.Literal(__version__)))
        return f"updated extension colcrypt {installed} -> {__version__}"
