"""Assertion helpers for database tests."""

import contextlib

import psycopg
import pytest


@contextlib.contextmanager
def raises_sqlstate(sqlstate: str, match: str | None = None):
    """Expect a server error with this SQLSTATE (and message text, if match is given)."""
    with pytest.raises(psycopg.Error) as info:
        yield info
    assert info.value.diag.sqlstate == sqlstate, (info.value.diag.sqlstate, str(info.value))
    if match is not None:
        assert match in info.value.diag.message_primary, info.value.diag.message_primary
    assert info.value.diag.message_hint, f"error {sqlstate} has no HINT: {info.value}"
    assert "plpy." not in info.value.diag.message_primary, info.value.diag.message_primary


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]
