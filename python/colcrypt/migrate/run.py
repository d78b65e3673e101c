"""colcrypt migrate: prepare, backfill (with a progress bar), validate and, with --cutover, the read
cutover, for one or more tables in one command. Resumable: each table continues from the state its
migration is in, so running the command again after an interruption picks up where it stopped."""

import sys
from dataclasses import dataclass

import psycopg

from colcrypt.errors import ColcryptError
from colcrypt.migrate.client import backfill_with_progress

STATE_SQL = """
SELECT m.state FROM colcrypt.migrations m
WHERE to_regclass(%s) IN (m.source, m.name_view) AND m.state NOT IN ('cleaned', 'rolled_back')
"""


@dataclass(frozen=True)
class Target:
    table: str
    columns: tuple[str, ...]


def parse_target(spec: str) -> Target:
    """'schema.table:col1,col2'."""
    table, _, cols = spec.rpartition(":")
    columns = tuple(c.strip() for c in cols.split(",") if c.strip())
    if not table or not columns:
        raise ColcryptError("KC008", f"{spec!r} does not name a table and its columns",
                            "Write TABLE:COLUMN[,COLUMN...], e.g. crm.customers:ssn,email.")
    return Target(table, columns)


def migrate(dsn: str, targets: list[Target], key: str, workers: int, batch_size: int, cutover: bool,
            show: bool) -> int:
    """0 when every table reached its goal, 3 when a validation failed (the others go on)."""
    failed = []
    for t in targets:
        with psycopg.connect(dsn, autocommit=True) as conn:
            state = _state(conn, t.table)
            if state is None:
                conn.execute("SELECT colcrypt.prepare(%s, %s, %s)", (t.table, list(t.columns), key))
                _say(f"{t.table}: prepared (dual writes on)")
                state = "dual_write"
        if state in ("dual_write", "backfilling"):
            backfill_with_progress(dsn, t.table, batch_size, workers, show=show)
            _say(f"{t.table}: backfilled")
        with psycopg.connect(dsn, autocommit=True) as conn:
            state = _state(conn, t.table)
            if state in ("backfilled", "validated") and (state == "backfilled" or cutover):
                total, valid, passed = conn.execute("SELECT total, valid, passed FROM colcrypt.validate(%s)",
                                                    (t.table,)).fetchone()
                _say(f"{t.table}: {valid:,} of {total:,} rows valid")
                if not passed:
                    failed.append(t.table)
                    continue
            if cutover and _state(conn, t.table) == "validated":
                conn.execute("SELECT * FROM colcrypt.cutover(%s, 'reads')", (t.table,))
                _say(f"{t.table}: the name now reads the encrypted data")
            _say(f"{t.table}: {_state(conn, t.table)}")
    if failed:
        print(f"colcrypt: validation failed for {', '.join(failed)}: see colcrypt validate", file=sys.stderr)
        return 3
    return 0


def _state(conn, table: str) -> str | None:
    row = conn.execute(STATE_SQL, (table,)).fetchone()
    return row[0] if row else None


def _say(text: str) -> None:
    print(f"colcrypt: {text}")
