"""colcrypt.validate(): clean after a backfill; catches a flipped byte, a missing row, an extra row,
a value moved to another row, and a stale non-sensitive column; full or sampled."""

import pytest

from tests.db.helpers import raises_sqlstate, scalar
from tests.db.test_backfill import TABLE


@pytest.fixture
def migrated(conn):
    conn.execute(TABLE)
    conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn', 'email', 'born'], 'k')")
    conn.execute("CALL colcrypt.backfill('crm.customers')")
    return conn


def validate(conn, sample=None):
    cur = conn.execute("SELECT * FROM colcrypt.validate('crm.customers', %s)", (sample,))
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def test_clean_validation_moves_the_migration_on(migrated):
    v = validate(migrated)
    assert (v["total"], v["valid"], v["mismatched"], v["missing"], v["orphaned"], v["passed"]) == \
        (5000, 5000, 0, 0, 0, True)
    assert scalar(migrated, "SELECT state FROM colcrypt.migrations") == "validated"
    assert scalar(migrated, "SELECT count(*) FROM colcrypt.validations") == 1


def test_validation_catches_injected_corruption(migrated):
    with migrated.transaction():  # corrupt the shadow behind the triggers' back
        migrated.execute("""
            UPDATE crm.customers_encrypted
            SET ssn_encrypted = set_byte(ssn_encrypted, 29, get_byte(ssn_encrypted, 29) # 255) WHERE id = 11;
            DELETE FROM crm.customers_encrypted WHERE id = 22;
            INSERT INTO crm.customers_encrypted (id, name, ssn_encrypted, email_encrypted, born_encrypted,
                   encryption_key_id, encryption_algorithm, encrypted_at, migration_status)
            SELECT 99999, name, ssn_encrypted, email_encrypted, born_encrypted,
                   encryption_key_id, encryption_algorithm, encrypted_at, migration_status
            FROM crm.customers_encrypted WHERE id = 33;
            UPDATE crm.customers_encrypted SET email_encrypted =
                (SELECT email_encrypted FROM crm.customers_encrypted WHERE id = 45) WHERE id = 44;
            UPDATE crm.customers_encrypted SET name = 'stale' WHERE id = 55;
        """)
    v = validate(migrated)
    assert (v["total"], v["valid"], v["mismatched"], v["missing"], v["orphaned"], v["passed"]) == \
        (5000, 4996, 3, 1, 1, False)
    assert v["examples"] == {"mismatched": ["11", "44", "55"], "missing": ["22"], "orphaned": ["99999"]}
    assert scalar(migrated, "SELECT state FROM colcrypt.migrations") == "backfilled"
    assert scalar(migrated, "SELECT outcome FROM colcrypt.migration_events WHERE event = 'validate'") == "failed"


def test_sampled_validation(migrated):
    v = validate(migrated, 500)
    assert v["sample_size"] == 500 and 100 <= v["total"] <= 500 and v["passed"]
    assert scalar(migrated, "SELECT state FROM colcrypt.migrations") == "backfilled"  # only a full one counts


def test_validation_needs_a_finished_backfill_and_sane_input(conn):
    conn.execute(TABLE)
    conn.execute("SELECT colcrypt.prepare('crm.customers', ARRAY['ssn'], 'k')")
    with raises_sqlstate("KC018", "validate needs backfilled"):
        validate(conn)
    with raises_sqlstate("KC008", "p_sample_size must be positive"):
        validate(conn, 0)
    with raises_sqlstate("KC017"):
        conn.execute("SELECT colcrypt.validate('crm.nope')")
