"""Plaintext left on disk after cleanup: the dropped table's statistics stay in pg_statistic's file (a plain
VACUUM need not overwrite them) until it is rewritten. Cleanup and plaintext_residue name them with the command that
purges them; colcrypt cleanup runs it."""

import psycopg

from colcrypt.cli import main
from tests.db.helpers import STEPS, scalar

SECRET = b"ZQXJ-residue-"


def finalized(conn, table: str) -> None:
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, ssn text);"
                 f" INSERT INTO {table} SELECT g, 'ZQXJ-residue-' || (g % 20)::text FROM generate_series(1, 2000) g;"
                 f" ANALYZE {table}")
    conn.execute("SELECT FROM colcrypt.prepare(%s, ARRAY['ssn'], 'k')", (table,))
    for state, sqls in STEPS:
        if state == "cleaned":
            break
        for sql in sqls:
            conn.execute(sql, (table,))


def statistics_file(db, conn) -> bytes:
    conn.execute("CHECKPOINT")
    return (db.cluster.data / scalar(conn, "SELECT pg_relation_filepath('pg_catalog.pg_statistic')")).read_bytes()


def planner_statistics(conn, table: str) -> list:
    return [r for r in conn.execute("SELECT place, detail, action FROM colcrypt.plaintext_residue(%s)", (table,))
            if r[0] == "planner statistics"]


def test_cleanup_names_the_statistics_left_in_pg_statistic(db, conn):
    finalized(conn, "held")
    rows = conn.execute("SELECT place, detail, action FROM colcrypt.cleanup('held', '0')").fetchall()
    stats = [r for r in rows if r[0] == "planner statistics"]
    assert len(stats) == 1 and "VACUUM FULL pg_catalog.pg_statistic" in stats[0][2], rows
    assert SECRET in statistics_file(db, conn)  # the residue is real (a plain VACUUM may or may not overwrite it)
    assert planner_statistics(conn, "held") == stats  # plaintext_residue() answers after cleanup too
    conn.execute("VACUUM FULL pg_catalog.pg_statistic")
    assert SECRET not in statistics_file(db, conn)
    assert planner_statistics(conn, "held") == []  # the file it was in is gone


def test_colcrypt_cleanup_purges_them(db, conn, capsys):
    finalized(conn, "purged")
    assert main(["cleanup", "purged", "--retain", "0", "--dsn", db.dsn]) in (0, None)
    assert "pg_statistic rewritten" in capsys.readouterr().out
    assert SECRET not in statistics_file(db, conn)
    assert planner_statistics(conn, "purged") == []
    with psycopg.connect(db.dsn, autocommit=True) as other:  # the catalog works, statistics are gathered again
        other.execute("ANALYZE purged_encrypted")
        assert scalar(other, "SELECT count(*) FROM pg_stats WHERE tablename = 'purged_encrypted'") > 0
