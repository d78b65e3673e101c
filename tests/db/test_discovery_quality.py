"""Discovery on colcrypt's labelled legacy database (written apart from the classifier): precision
and recall over every column, positives of every variant and decoys of every kind."""

from tests.fixtures import labeled_legacy
from tests.fixtures.evaluate import score


def test_precision_and_recall_on_the_labelled_fixture(conn):
    labeled_legacy.build(conn)
    rows = conn.execute("SELECT schema_name, table_name, column_name, classification FROM colcrypt.discover(%s)",
                        (labeled_legacy.SCHEMAS,)).fetchall()
    quality = score({(r[0], r[1], r[2]): r[3] for r in rows}, labeled_legacy.LABELS)
    # The acceptance bar on unseen databases is 0.95; on this fixture colcrypt reaches 1.0, so any
    # regression shows here.
    assert quality["precision"] == 1.0 and quality["recall"] == 1.0, quality
