"""The demo's sample pharmacy (colcrypt.demo.sample) and its application (colcrypt.demo.load): the load
loses nothing and fails nothing, on plaintext tables and while every target goes through all the phases
of a migration; and its check of what it wrote does notice rows changed behind its back."""

import time

import psycopg
import pytest
from psycopg.rows import namedtuple_row

from colcrypt.demo import sample
from colcrypt.demo.load import Load

SCALE = 0.02


@pytest.fixture
def pharmacy(conn):
    conn.row_factory = namedtuple_row
    sample.build(conn, SCALE)
    sample.grant_app(conn)
    return conn


def test_the_sample_has_the_promised_shapes_and_discovery_finds_every_target_column(pharmacy):
    counts = {t: pharmacy.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t, _ in sample.TARGETS}
    assert all(n > 0 for n in counts.values()), counts
    assert sum(counts.values()) >= 200_000 * SCALE, counts     # 230,000 target rows at scale 1.0
    partitions = {r[0] for r in pharmacy.execute(
        "SELECT relid::regclass::text FROM pg_partition_tree('rx.orders') WHERE isleaf")}
    assert partitions == {p for p, _, _ in sample.ORDER_PARTITIONS}
    for partition, _, _ in sample.ORDER_PARTITIONS:
        assert pharmacy.execute(f"SELECT count(*) FROM {partition}").fetchone()[0] > 0, partition
    found = {(f"{s}.{t}", c) for s, t, c in pharmacy.execute(
        "SELECT schema_name, table_name, column_name FROM colcrypt.discover(ARRAY['shop', 'rx'])")}
    assert {(t, c) for t, cols in sample.TARGETS for c in cols} <= found
    with pytest.raises(psycopg.errors.DuplicateSchema):
        sample.build(pharmacy, SCALE)


def _assert_clean(load: Load, conn, stats) -> None:
    assert stats.failed == 0, stats.errors
    assert stats.wrong_reads == 0, stats.wrong
    assert load.lost(conn) == []


def test_the_load_writes_and_reads_through_the_names_and_loses_nothing(db, pharmacy):
    load = Load(db.dsn, workers=2, seed=3)
    load.start()
    time.sleep(3)
    stats = load.stop()
    _assert_clean(load, pharmacy, stats)
    assert stats.committed > 100 and stats.tps > 30, stats
    ops = stats.operations
    for op in ("insert customers", "insert payment_methods", "insert prescriptions", "update customers",
               "update to NULL customers", "update jsonb", "delete orders", "read"):
        assert ops.get(op, 0) > 0, (op, ops)
    for partition, _, _ in sample.ORDER_PARTITIONS:
        assert ops.get(f"insert {partition.split('.')[1]}", 0) > 0, (partition, ops)
    assert 0 < stats.p99_ms <= stats.max_ms


def test_the_check_notices_rows_deleted_or_changed_behind_the_applications_back(db, pharmacy):
    load = Load(db.dsn, workers=2, seed=4)
    load.start()
    time.sleep(1)
    load.pause()
    written = next(k for w in load.workers for k, v in w.rows["shop.customers"].items() if v is not None)
    untouched = next(k for k in load.workers[1].original["rx.orders"] if k not in load.workers[1].rows["rx.orders"])
    pharmacy.execute("DELETE FROM shop.customers WHERE customer_id = %s", written)
    pharmacy.execute("UPDATE rx.orders SET contact_phone = 'changed' WHERE order_id = %s AND ordered_on = %s",
                     untouched)
    pharmacy.execute("INSERT INTO shop.customers (full_name) VALUES ('Unknown Ümit')")
    problems = load.lost(pharmacy)
    load.stop()
    text = "\n".join(problems)
    assert f"shop.customers {written}: missing" in text, text
    assert f"rx.orders {untouched}: changed" in text, text
    assert "a row the application never wrote" in text and "Unknown Ümit" in text, text


STEPS = [
    ("prepare", "SELECT * FROM colcrypt.prepare(%s, %s, 'k')", True),
    ("backfill", "CALL colcrypt.backfill(%s)", False),
    ("validate", "SELECT * FROM colcrypt.validate(%s)", False),
    ("reads", "SELECT * FROM colcrypt.cutover(%s, 'reads')", False),
    ("writes", "SELECT * FROM colcrypt.cutover(%s, 'writes')", False),
    ("finalize", "SELECT * FROM colcrypt.finalize(%s)", False),
    ("cleanup", "SELECT * FROM colcrypt.cleanup(%s, '0')", False),
]


@pytest.mark.slow
def test_the_load_loses_and_fails_nothing_while_every_target_is_migrated(db, pharmacy):
    pharmacy.execute("SELECT colcrypt.grant_key('k', %s)", (sample.APP_ROLE,))
    load = Load(db.dsn, workers=2, seed=5)
    load.start()
    try:
        time.sleep(1)
        for step, query, with_columns in STEPS:
            for table, columns in sample.TARGETS:
                cur = pharmacy.execute(query, (table, columns) if with_columns else (table,))
                if step == "validate":
                    row = cur.fetchone()
                    assert row.passed, (table, row)
            time.sleep(1)
            load.pause()
            assert load.lost(pharmacy) == [], step
            load.resume()
        time.sleep(1)
    finally:
        stats = load.stop()
    states = {r[0] for r in pharmacy.execute("SELECT state FROM colcrypt.migrations")}
    assert states == {"cleaned"}
    _assert_clean(load, pharmacy, stats)
    assert pharmacy.execute("SELECT count(*) FROM pg_class WHERE relname ~ '_plaintext$'").fetchone() == (0,)
