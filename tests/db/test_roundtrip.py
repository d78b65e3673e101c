"""encrypt_column / decrypt_column: round trips, and every way a decryption must fail."""

import psycopg
import pytest

from tests.db.helpers import raises_sqlstate, scalar

ROUND_TRIP = ("SELECT colcrypt.decrypt_column(colcrypt.encrypt_column(%s, 'k', 'crm.customers.ssn'),"
              " 'crm.customers.ssn')")


@pytest.mark.parametrize("value", [
    "123-45-6789", "", "Zoë Ångström — 東京 🚀", "a\nb\tc\\d'e\"f", "x" * 200_000,
])
def test_round_trip(conn, value):
    assert scalar(conn, ROUND_TRIP, (value,)) == value


def test_null_stays_null(conn):
    assert scalar(conn, "SELECT colcrypt.encrypt_column(NULL, 'k', 'c')") is None
    assert scalar(conn, "SELECT colcrypt.decrypt_column(NULL, 'c')") is None


def test_two_encryptions_differ_and_carry_the_header(conn):
    a, b = conn.execute("SELECT colcrypt.encrypt_column('same', 'k', 'c'), colcrypt.encrypt_column('same', 'k', 'c')"
                        ).fetchone()
    assert a != b
    assert bytes(a[:8]) == b"\x01\x01\x01k\x00\x00\x00\x01"  # version 1, AES-256-GCM, key 'k' v1
    assert len(a) == 8 + 12 + len("same") + 16


def test_wrong_context_fails(conn):
    ct = scalar(conn, "SELECT colcrypt.encrypt_column('secret', 'k', 'crm.customers.ssn')")
    with raises_sqlstate("KC001", 'context "crm.customers.email"'):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'crm.customers.email')", (ct,))


@pytest.mark.parametrize("position", [-1, -16, -17, 8, 20])  # tag, tag start, last ct byte, nonce, first ct byte
def test_flipped_byte_fails(conn, position):
    ct = bytearray(scalar(conn, "SELECT colcrypt.encrypt_column('secret value', 'k', 'c')"))
    ct[position] ^= 0x01
    with raises_sqlstate("KC001"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (bytes(ct),))


def test_flipped_header_bytes(conn):
    ct = bytes(scalar(conn, "SELECT colcrypt.encrypt_column('v', 'k', 'c')"))
    with raises_sqlstate("KC003"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (b"\x02" + ct[1:],))
    with raises_sqlstate("KC003"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct[:1] + b"\x07" + ct[2:],))
    with raises_sqlstate("KC004", 'key "j" is not in colcrypt.keyring'):  # key id byte 'k' -> 'j'
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct[:3] + b"j" + ct[4:],))
    with raises_sqlstate("KC004", 'key "k" version 2'):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct[:7] + b"\x02" + ct[8:],))


@pytest.mark.parametrize("cut", [0, 2, 8, 35])
def test_truncated_fails(conn, cut):
    ct = bytes(scalar(conn, "SELECT colcrypt.encrypt_column('v', 'k', 'c')"))
    with raises_sqlstate("KC003" if cut == 0 else "KC002"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct[:cut] if cut else b"\x00\x00\x00",))


def test_plaintext_bytes_are_not_an_envelope(conn):
    with raises_sqlstate("KC003"):
        conn.execute("SELECT colcrypt.decrypt_column(convert_to('123-45-6789', 'UTF8'), 'c')")


def test_unknown_key_fails_clearly(conn):
    with raises_sqlstate("KC004", 'key "nokey"'):
        conn.execute("SELECT colcrypt.encrypt_column('v', 'nokey', 'c')")


def test_null_key_or_context_is_an_error_not_null(conn):
    with raises_sqlstate("KC008"):
        conn.execute("SELECT colcrypt.encrypt_column('v', NULL, 'c')")
    with raises_sqlstate("KC008"):
        conn.execute("SELECT colcrypt.encrypt_column('v', 'k', NULL)")
    with raises_sqlstate("KC008"):
        conn.execute("SELECT colcrypt.decrypt_column('\\x00'::bytea, NULL)")
    with raises_sqlstate("KC008"):
        conn.execute("SELECT colcrypt.encrypt_column('v', '', 'c')")


def test_role_without_grant_gets_42501(db, app_role):
    with db.connect() as admin:
        ct = scalar(admin, "SELECT colcrypt.encrypt_column('secret', 'k', 'c')")
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        with raises_sqlstate("42501", "app_user"):
            app.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct,))
        with raises_sqlstate("42501"):
            app.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")


def test_grant_then_revoke(db, app_role):
    with db.connect() as admin:
        ct = scalar(admin, "SELECT colcrypt.encrypt_column('secret', 'k', 'c')")
        admin.execute("SELECT colcrypt.grant_key('k', %s)", (app_role,))
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        assert scalar(app, "SELECT colcrypt.decrypt_column(%s, 'c')", (ct,)) == "secret"
        assert app.execute("SELECT * FROM colcrypt.loaded_keys()").fetchall() == [("k", 1, "server", True)]
    with db.connect() as admin:
        assert scalar(admin, "SELECT colcrypt.revoke_key('k', %s)", (app_role,)) is True
        assert scalar(admin, "SELECT colcrypt.revoke_key('k', %s)", (app_role,)) is False
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        with raises_sqlstate("42501"):
            app.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct,))


def test_member_of_granted_role_may_use_the_key(db, app_role):
    with db.connect() as admin:
        admin.execute("DROP ROLE IF EXISTS key_users")
        admin.execute("CREATE ROLE key_users NOLOGIN")
        admin.execute(f"GRANT key_users TO {app_role}")
        admin.execute("SELECT colcrypt.grant_key('k', 'key_users')")
    try:
        with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
            assert scalar(app, ROUND_TRIP, ("v",)) == "v"
    finally:
        with db.connect() as admin:
            admin.execute("DELETE FROM colcrypt.key_grants WHERE grantee = 'key_users'::regrole")
            admin.execute("DROP ROLE key_users")


def test_encryptions_are_counted(conn):
    before = scalar(conn, "SELECT encryptions FROM colcrypt.keyring WHERE key_id = 'k'")
    conn.execute("SELECT colcrypt.encrypt_column(g::text, 'k', 'c') FROM generate_series(1, 1000) g")
    after = scalar(conn, "SELECT encryptions FROM colcrypt.keyring WHERE key_id = 'k'")
    assert 1000 <= after - before <= 1000 + 256  # counted in blocks of 256: an upper bound


def test_works_in_a_table(conn):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, ssn bytea)")
    conn.execute("INSERT INTO t SELECT g, colcrypt.encrypt_column(lpad(g::text, 9, '0'), 'k', 't.ssn')"
                 " FROM generate_series(1, 5000) g")
    bad = scalar(conn, "SELECT count(*) FROM t WHERE colcrypt.decrypt_column(ssn, 't.ssn') <> lpad(id::text, 9, '0')")
    assert bad == 0
    assert scalar(conn, "SELECT count(*) FROM t"
                        " WHERE position(convert_to(lpad(id::text, 9, '0'), 'UTF8') in ssn) > 0") == 0
