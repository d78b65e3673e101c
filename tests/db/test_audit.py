"""The event log is tamper-evident: a hash chain over its rows, append-only for everyone who goes
through the ordinary paths, and colcrypt audit verify / colcrypt.verify_audit() find an edited, removed
or inserted row."""

import json

import pytest

from colcrypt.cli import main
from tests.db.helpers import raises_sqlstate


@pytest.fixture
def logged(conn):
    conn.execute("CREATE TABLE people (id int PRIMARY KEY, ssn text);"
                 " INSERT INTO people SELECT g, 'ssn-' || g FROM generate_series(1, 50) g")
    conn.execute("SELECT colcrypt.prepare('people', ARRAY['ssn'], 'k')")
    conn.execute("CALL colcrypt.backfill('people')")
    conn.execute("SELECT colcrypt.validate('people')")
    conn.execute("SELECT colcrypt.cutover('people', 'reads')")
    return conn


def test_an_intact_log_verifies_and_names_its_head(db, logged, capsys):
    events, head, head_hash, problem = logged.execute("SELECT * FROM colcrypt.verify_audit()").fetchone()
    assert problem is None and events == logged.execute("SELECT count(*) FROM colcrypt.migration_events").fetchone()[0]
    assert head == logged.execute("SELECT max(event_id) FROM colcrypt.migration_events").fetchone()[0]
    assert main(["audit", "verify", "--dsn", db.dsn, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["head_hash"] == head_hash and len(head_hash) == 64


def test_the_log_is_append_only(logged):
    for sql in ("UPDATE colcrypt.migration_events SET outcome = 'failed'", "DELETE FROM colcrypt.migration_events",
                "TRUNCATE colcrypt.migration_events"):
        with raises_sqlstate("KC026", "append-only"):
            logged.execute(sql)


@pytest.mark.parametrize(("tamper", "finding"), [
    ("UPDATE colcrypt.migration_events SET detail = '{\"forged\": true}' WHERE event_id = 3",
     "event 3 was changed after it was logged"),
    ("UPDATE colcrypt.migration_events SET at = at - interval '1 day' WHERE event_id = 2",
     "event 2 was changed after it was logged"),
    ("DELETE FROM colcrypt.migration_events WHERE event_id = 4", "event 5 is not on the chain (it names event 4"),
    ("INSERT INTO colcrypt.migration_events (table_name, event, prev_event_id, prev_hash, row_hash)"
     " VALUES ('people', 'forged', 1, '\\x00', '\\x00')", "not on the chain"),
])
def test_an_edited_removed_or_inserted_row_shows(db, logged, capsys, tamper, finding):
    logged.execute("SET session_replication_role = replica")  # what a superuser could do to bypass the triggers
    logged.execute(tamper)
    logged.execute("RESET session_replication_role")
    problem = logged.execute("SELECT problem FROM colcrypt.verify_audit()").fetchone()[0]
    assert problem is not None and finding in problem, problem
    assert main(["audit", "verify", "--dsn", db.dsn]) == 3
    assert "audit log BROKEN" in capsys.readouterr().err


def test_the_chain_does_not_depend_on_session_settings(logged):
    logged.execute("SET TimeZone = 'Pacific/Chatham'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = -3")
    assert logged.execute("SELECT problem FROM colcrypt.verify_audit()").fetchone() == (None,)
