"""Discovery bench: precision and recall on colcrypt's labelled legacy fixtures (tests/fixtures), and
the time to classify a table of BENCH_BIG_ROWS rows (default 10M) beside the time of one full
sequential scan of it, measured in the same run."""

import os
import time

from tests.fixtures import holdout_legacy, labeled_legacy
from tests.fixtures.evaluate import score

BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", "10000000"))


def _discover(conn, schemas: list[str]) -> tuple[dict, float]:
    t = time.perf_counter()
    rows = conn.execute("SELECT schema_name, table_name, column_name, classification FROM colcrypt.discover(%s)",
                        (schemas,)).fetchall()
    return {(r[0], r[1], r[2]): r[3] for r in rows}, time.perf_counter() - t


def run(conn, cluster) -> dict:
    print("bench discovery: labelled fixtures")
    labeled_legacy.build(conn)
    found, fixture_s = _discover(conn, labeled_legacy.SCHEMAS)
    quality = score(found, labeled_legacy.LABELS)
    holdout_legacy.build(conn)
    holdout_found, holdout_s = _discover(conn, holdout_legacy.SCHEMAS)
    holdout = score(holdout_found, holdout_legacy.LABELS)
    print(f"bench discovery: building a {BIG_ROWS:,}-row table")
    t = time.perf_counter()
    big = labeled_legacy.build_big(conn, BIG_ROWS)
    build_s = time.perf_counter() - t
    conn.execute("CHECKPOINT")
    t = time.perf_counter()
    conn.execute(f"SELECT count(*) FROM {big}").fetchone()  # noqa: S608 - the fixture's own table name
    scan_s = time.perf_counter() - t
    big_found, big_s = _discover(conn, [big.split(".")[0].strip('"')])
    big_quality = score(big_found, labeled_legacy.BIG_LABELS)

    figures = {
        "fixture_positives": quality["positives"], "fixture_found": quality["found"],
        "precision": quality["precision"], "recall": quality["recall"], "f1": quality["f1"],
        "missed": quality["missed"], "false_alarms": quality["false_alarms"], "fixture_scan_s": round(fixture_s, 2),
        "holdout_positives": holdout["positives"], "holdout_precision": holdout["precision"],
        "holdout_recall": holdout["recall"], "holdout_missed": holdout["missed"],
        "holdout_false_alarms": holdout["false_alarms"], "holdout_scan_s": round(holdout_s, 2),
        "big_rows": BIG_ROWS, "big_build_s": round(build_s, 1), "big_discover_s": round(big_s, 2),
        "big_full_scan_s": round(scan_s, 2), "big_discover_vs_full_scan": round(big_s / scan_s, 3),
        "big_precision": big_quality["precision"], "big_recall": big_quality["recall"],
    }
    print(f"\n{'discovery':<46} {'value':>12}")
    print(f"{'labelled fixture: positives / found / right':<46} {quality['positives']:>4} / {quality['found']} / "
          f"{quality['correct']}")
    print(f"{'precision':<46} {quality['precision']:>12.3f}")
    print(f"{'recall':<46} {quality['recall']:>12.3f}")
    print(f"{'fixture scan (s)':<46} {fixture_s:>12.2f}")
    print(f"{'holdout fixture: positives / found / right':<46} {holdout['positives']:>4} / {holdout['found']} / "
          f"{holdout['correct']}")
    print(f"{'holdout precision / recall':<46} {holdout['precision']:>5.3f} / {holdout['recall']:<5.3f}")
    print(f"{'holdout scan (s)':<46} {holdout_s:>12.2f}")
    print(f"{f'{BIG_ROWS:,}-row table: discover (s)':<46} {big_s:>12.2f}")
    print(f"{'  one full sequential scan of it (s)':<46} {scan_s:>12.2f}")
    print(f"{'  discover / full scan':<46} {big_s / scan_s:>12.3f}")
    print(f"{'  precision / recall':<46} {big_quality['precision']:>5.2f} / {big_quality['recall']:<5.2f}")
    for kind, items in (("missed", quality["missed"] + holdout["missed"]),
                        ("false alarm", quality["false_alarms"] + holdout["false_alarms"])):
        for item in items:
            print(f"  {kind}: {item}")
    print()
    return figures
