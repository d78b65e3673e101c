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


def test_every_change_of_the_keyring_is_logged_without_key_material(db, conn, tmp_path):
    from colcrypt.keys import create_key, destroy_key, rewrap_key, rotate_key
    from colcrypt.providers.local import create_kek_file

    def events():
        return [(e, d) for e, d in conn.execute(
            "SELECT event, detail FROM colcrypt.migration_events WHERE table_name = 'colcrypt.keyring'"
            " AND detail ->> 'key_id' = 'life' ORDER BY event_id")]

    create_key(conn, "life", kek_file=db.kek_file)
    conn.execute("CREATE ROLE key_user_a")
    try:
        conn.execute("SELECT colcrypt.grant_key('life', 'key_user_a')")
        conn.execute("SELECT colcrypt.grant_key('life', 'key_user_a')")  # already granted: nothing happens
        conn.execute("SELECT colcrypt.revoke_key('life', 'key_user_a')")
    finally:
        conn.execute("DROP ROLE key_user_a")
    new_kek = tmp_path / "kek2"
    create_kek_file(new_kek)
    rewrap_key(conn, "life", "local", kek_file=new_kek, old_kek_file=db.kek_file)
    rotate_key(conn, "life", new_kek)
    destroy_key(conn, "life", 1)
    logged = events()
    assert [(e, d.get("version"), d.get("role")) for e, d in logged] == [
        ("key version created", 1, None), ("key granted", None, "key_user_a"),
        ("key grant revoked", None, "key_user_a"), ("key version rewrapped", 1, None),
        ("key version retired", 1, None), ("key version created", 2, None),
        ("key version destroyed", 1, None)]
    rewrapped = logged[3][1]
    assert rewrapped["previous_kek_ref"] != rewrapped["kek_ref"] and rewrapped["provider"] == "local"
    wrapped = [bytes(w) for (w,) in conn.execute("SELECT wrapped_key FROM colcrypt.key_versions WHERE key_id = 'life'")]
    text = json.dumps([d for _, d in logged])
    assert all(w.hex() not in text for w in wrapped if w) and "wrapped" not in text
    assert conn.execute("SELECT problem FROM colcrypt.verify_audit()").fetchone() == (None,)
