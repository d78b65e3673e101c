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


def column_context(conn, table: str, column: str) -> str:
    """The context of the column of a migrated table (what prepare binds: values add '#' and the row key)."""
    return conn.execute("SELECT colcrypt.column_context(%s, %s)", (table, column)).fetchone()[0]


# The DBA steps, in order, each with the state it leaves the migration in (after prepare: dual_write).
STEPS = (
    ("validated", ("CALL colcrypt.backfill(%s)", "SELECT FROM colcrypt.validate(%s)")),
    ("cutover_reads", ("SELECT FROM colcrypt.cutover(%s, 'reads')",)),
    ("cutover_writes", ("SELECT FROM colcrypt.cutover(%s, 'writes')",)),
    ("finalized", ("SELECT FROM colcrypt.finalize(%s)",)),
    ("cleaned", ("SELECT FROM colcrypt.cleanup(%s, '0')",)),
)
STAGES = ("dual_write", *(state for state, _ in STEPS))


def walk(conn, table: str, columns, at_each_stage, key: str = "k", until: str = "cleaned") -> None:
    """Migrate table (as the superuser of conn) through every stage up to until, calling at_each_stage(stage)
    after each step."""
    conn.execute("SELECT FROM colcrypt.prepare(%s, %s, %s)", (table, list(columns), key))
    at_each_stage("dual_write")
    for state, sqls in STEPS[:STAGES.index(until)]:
        for sql in sqls:
            conn.execute(sql, (table,))
        at_each_stage(state)
