"""colcrypt: online migration of plaintext PostgreSQL columns to AES-256-GCM column encryption.

This package is imported in two places: by clients (CLI, installer, session key loading) and,
for the modules that import neither psycopg nor plpy at top level, by PL/Python inside the server.
"""

__version__ = "0.3.0"


def connect(*args, **kwargs):
    """Open a psycopg connection with data keys loaded; see colcrypt.session.connect."""
    from colcrypt.session import connect as _connect

    return _connect(*args, **kwargs)
