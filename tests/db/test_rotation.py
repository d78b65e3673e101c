"""colcrypt keys rotate and CALL colcrypt.reencrypt: a new data-key version for new writes, then
the existing values moved to it online, under a write load, with validation clean and no trigger of
the table fired by the re-encryption."""

import threading
import time

import psycopg
import pytest

from colcrypt.cli import main
from colcrypt.keys import rotate_key
from tests.db.helpers import column_context, raises_sqlstate, scalar
from tests.db.test_cutover import SCHEMA, TABLE

VERSIONS_SQL = """SELECT substring(ssn_encrypted FROM 4 + get_byte(ssn_encrypted, 2) FOR 4) AS v, count(*)
FROM shop."Customers_encrypted" WHERE ssn_encrypted IS NOT NULL GROUP BY 1 ORDER BY 1"""


def _versions(conn) -> dict[int, int]:
    return {int.from_bytes(bytes(v), "big"): n for v, n in conn.execute(VERSIONS_SQL).fetchall()}


@pytest.fixture
def shop(conn):
    conn.execute(SCHEMA)
    conn.execute("SELECT colcrypt.prepare(%s, ARRAY['ssn', 'email'], 'k', ARRAY['email'])", (TABLE,))
    conn.execute("CALL colcrypt.backfill(%s)", (TABLE,))
    return conn


def test_rotation_under_a_write_load_then_reencryption(db, shop):
    stop, errors, writes = threading.Event(), [], [0]

    def load(worker: int):  # short sessions: each loads the key afresh, as pooled ones do after DISCARD ALL
        i = 0
        while not stop.is_set():
            try:
                with db.connect() as c:
                    for _ in range(10):
                        i += 1
                        c.execute(f"UPDATE {TABLE} SET ssn = %s, email = %s WHERE id = %s",
                                  (f"{worker}-{i}", f"w{worker}-{i}@x.org", 1 + (i * 2 + worker) % 200))
                        writes[0] += 1
            except psycopg.Error as e:
                errors.append(str(e))
                return

    workers = [threading.Thread(target=load, args=(w,)) for w in (0, 1)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        assert rotate_key(shop, "k", db.kek_file)["version"] == 2
        time.sleep(0.5)
        shop.execute("CALL colcrypt.reencrypt(%s, p_batch_size => 50)", (TABLE,))
        time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert errors == [] and writes[0] > 0
    shop.execute("CALL colcrypt.reencrypt(%s, p_batch_size => 50)", (TABLE,))  # what sessions wrote meanwhile
    assert _versions(shop) == {2: 200}
    assert shop.execute("SELECT * FROM colcrypt.key_usage('k') ORDER BY 2").fetchall() == [
        ('shop."Customers"', "email", 2, 200), ('shop."Customers"', "ssn", 2, 200)]  # version 1 is unused now
    assert scalar(shop, "SELECT passed FROM colcrypt.validate(%s)", (TABLE,)) is True  # blind indexes too
    assert shop.execute("SELECT version, state FROM colcrypt.key_versions WHERE key_id = 'k' ORDER BY 1"
                        ).fetchall() == [(1, "retired"), (2, "active")]
    email = scalar(shop, f"SELECT email FROM {TABLE} WHERE id = 7")
    assert scalar(shop, 'SELECT count(*) FROM shop."Customers_encrypted" WHERE email_bidx = colcrypt.blind_index(%s,'
                        " 'k', %s)", (email, column_context(shop, TABLE, "email"))) == 1  # equality lookups find it


def test_reencryption_after_cleanup_fires_no_trigger_of_the_table(db, shop):
    assert scalar(shop, "SELECT passed FROM colcrypt.validate(%s)", (TABLE,))
    for step in ("cutover(%s, 'reads')", "cutover(%s, 'writes')", "finalize(%s)", "cleanup(%s, '0')"):
        shop.execute(f"SELECT * FROM colcrypt.{step}", (TABLE,))
    before = shop.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()
    rotate_key(shop, "k", db.kek_file)
    assert main(["keys", "rotate", "--dsn", db.dsn, "--kek-file", str(db.kek_file), "k", "--reencrypt", TABLE]) == 0
    assert _versions(shop) == {3: 200}
    assert shop.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall() == before  # touched not bumped


def test_rotation_refusals_change_nothing(db, shop, tmp_path):
    from colcrypt.errors import ColcryptError
    from colcrypt.providers.local import create_kek_file

    other = tmp_path / "other.kek"
    create_kek_file(other)
    with pytest.raises(ColcryptError, match="is wrapped with KEK local:"):
        rotate_key(shop, "k", other)
    with raises_sqlstate("KC011", "its next version is 2"):
        shop.execute("SELECT colcrypt.rotate_key('k', 5, 'local', 'local:x', '\\x00', '\\x00')")
    with raises_sqlstate("KC017", "has no migration"):
        shop.execute("CALL colcrypt.reencrypt('shop.regions')")
    assert shop.execute("SELECT version, state FROM colcrypt.key_versions WHERE key_id = 'k'").fetchall() == [
        (1, "active")]


def test_destroying_a_key_makes_its_values_unreadable(db, conn, capsys):
    from colcrypt.keys import create_key, unwrap_client_side

    create_key(conn, "gone", kek_file=db.kek_file)
    conn.execute("SELECT colcrypt.grant_key('gone', 'postgres')")
    conn.execute("CREATE TABLE secrets (id int PRIMARY KEY, v bytea);"
                 " INSERT INTO secrets VALUES (1, colcrypt.encrypt_column('first', 'gone', '1'))")
    rotate_key(conn, "gone", db.kek_file)
    with db.connect() as c:
        c.execute("INSERT INTO secrets VALUES (2, colcrypt.encrypt_column('second', 'gone', '2'))")
    assert main(["keys", "destroy", "--dsn", db.dsn, "gone"]) == 1  # no terminal, no --yes: nothing happens
    assert "without --yes" in capsys.readouterr().err
    assert main(["keys", "destroy", "--dsn", db.dsn, "gone", "--version", "1", "--yes"]) == 0
    with db.connect() as c:  # a new session: version 2 still opens, version 1 never again
        assert c.execute("SELECT colcrypt.decrypt_column(v, '2') FROM secrets WHERE id = 2").fetchone() == ("second",)
        with raises_sqlstate("KC007", 'key "gone" version 1 was destroyed'):
            c.execute("SELECT colcrypt.decrypt_column(v, '1') FROM secrets WHERE id = 1")
    assert main(["keys", "destroy", "--dsn", db.dsn, "gone", "--yes"]) == 0
    assert "destroyed 1 version(s)" in capsys.readouterr().out
    assert conn.execute("SELECT count(*) FROM colcrypt.key_versions WHERE key_id = 'gone' AND wrapped_key <> ''"
                        ).fetchone() == (0,)  # nothing left to unwrap, whatever the KEK
    with db.connect() as c:
        with raises_sqlstate("KC007", "was destroyed"):
            c.execute("SELECT colcrypt.decrypt_column(v, '2') FROM secrets WHERE id = 2")
    from colcrypt.errors import ColcryptError
    with pytest.raises(ColcryptError, match="key gone was destroyed"):
        unwrap_client_side(conn, "gone", db.kek_file)


def test_the_encryption_counter_warns_long_before_the_gcm_limit(db, conn):
    counter = conn.execute("SELECT counter::text FROM colcrypt.key_versions WHERE key_id = 'k'").fetchone()[0]
    with db.connect() as c:
        warnings = []
        c.add_notice_handler(lambda n: warnings.append((n.severity_nonlocalized, n.message_primary)))
        c.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")  # well below: nothing
        assert warnings == []
        conn.execute(f"SELECT setval('{counter}', {2**30})")  # another backend has used a quarter of 2^32
        for _ in range(300):  # the next block of 256 nonces
            c.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")
        assert len(warnings) == 1 and warnings[0][0] == "WARNING", warnings  # once per backend
        assert 'key "k" version 1 has encrypted about 1073742080 values' in warnings[0][1]


def _version_of(conn, sql: str) -> int:
    value = bytes(conn.execute(sql).fetchone()[0])
    return int.from_bytes(value[3 + value[2]:7 + value[2]], "big")


def test_changes_of_the_keyring_reach_sessions_that_hold_the_key(db, conn, app_role, request):
    """Rotation, destruction and revocation take effect in running sessions at their next use of the key,
    without DISCARD ALL or a reconnection: the change sends every backend an invalidation."""
    import colcrypt
    from colcrypt.keys import create_key, destroy_key

    create_key(conn, "live", kek_file=db.kek_file)
    conn.execute(f"SELECT colcrypt.grant_key('live', '{app_role}')")
    conn.execute("CREATE ROLE key_client LOGIN")  # no grant: it loads the key client-side
    request.addfinalizer(lambda: conn.execute("DROP ROLE key_client"))
    encrypt = "SELECT colcrypt.encrypt_column('x', 'live', 'c')"
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app, \
            colcrypt.connect(db.cluster.dsn(db.name, user="key_client"), keys=["live"], kek_file=db.kek_file,
                             autocommit=True) as loaded:
        old = bytes(app.execute(encrypt).fetchone()[0])
        assert _version_of(app, encrypt) == 1 and _version_of(loaded, encrypt) == 1
        rotate_key(conn, "live", db.kek_file)
        assert _version_of(app, encrypt) == 2  # the server-side key is unwrapped again: the new version
        with raises_sqlstate("42501", "has no access"):  # its client loaded version 1, retired: load again
            loaded.execute(encrypt)
        assert loaded.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (old,)).fetchone() == ("x",)
        destroy_key(conn, "live", 1)
        for session in (app, loaded):
            with raises_sqlstate("KC007", "was destroyed"):
                session.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (old,))
        conn.execute(f"SELECT colcrypt.revoke_key('live', '{app_role}')")
        with raises_sqlstate("42501"):
            app.execute(encrypt)
