"""colcrypt keys rewrap: KEK rotation changes only the keyring (same data key, no value rewritten),
across providers, while sessions keep encrypting and decrypting with the key."""

import threading
import time

import psycopg
import pytest

from colcrypt.errors import ColcryptError
from colcrypt.keys import create_key, rewrap_key, unwrap_client_side


def test_rewrap_across_providers_keeps_the_data_key_and_the_values(db, conn, app_role, softhsm, kms,
                                                                   server_providers, tmp_path):
    create_key(conn, "rot", "pkcs11", kek=softhsm + "kek-1")
    conn.execute("SELECT colcrypt.grant_key('rot', %s)", (app_role,))
    conn.execute("CREATE TABLE vault (id int PRIMARY KEY, v bytea); GRANT SELECT, INSERT ON vault TO PUBLIC")
    [(_, dek)] = unwrap_client_side(conn, "rot", None)
    stop, errors, writes = threading.Event(), [], [0]

    def load():  # new sessions unwrap server-side with whatever the keyring says at that moment
        i = 0
        while not stop.is_set():
            try:
                with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
                    for _ in range(20):
                        i += 1
                        app.execute("INSERT INTO vault VALUES (%s, colcrypt.encrypt_column(%s, 'rot', %s::text))",
                                    (i, f"value {i}", i))
                        writes[0] += 1
            except psycopg.Error as e:
                errors.append(str(e))
                return

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        assert [d["provider"] for d in rewrap_key(conn, "rot", "aws-kms", kek=kms["alias"])] == ["aws-kms"]
        time.sleep(0.5)
        rewrap_key(conn, "rot", "pkcs11", kek=softhsm + "kek-2")
        time.sleep(0.5)
        rewrap_key(conn, "rot", "local", kek_file=db.kek_file)  # the server's local KEK
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert errors == [] and writes[0] > 0
    assert conn.execute("SELECT provider FROM colcrypt.key_versions WHERE key_id = 'rot'").fetchone() == ("local",)
    assert unwrap_client_side(conn, "rot", db.kek_file) == [(1, dek)]  # the same data key throughout
    conn.execute("SELECT colcrypt.grant_key('rot', 'postgres')")
    assert conn.execute("SELECT count(*), count(*) FILTER (WHERE colcrypt.decrypt_column(v, id::text) = 'value ' || id)"
                        " FROM vault").fetchone() == (writes[0], writes[0])  # every value, whichever KEK was current
    with pytest.raises(ColcryptError, match="is wrapped with KEK local:"):  # the old local KEK no longer opens it
        rewrap_key(conn, "rot", "local", kek_file=tmp_path / "other.kek", old_kek_file=tmp_path / "other.kek")


def test_a_rewrap_that_fails_changes_nothing(conn, softhsm):
    create_key(conn, "stay", "pkcs11", kek=softhsm + "kek-1")
    before = conn.execute("SELECT provider, kek_ref, wrapped_key FROM colcrypt.key_versions").fetchall()
    with pytest.raises(ColcryptError, match="pkcs11: token 'colcrypt-test' has no AES key labelled 'gone'"):
        rewrap_key(conn, "stay", "pkcs11", kek=softhsm + "gone")
    with pytest.raises(psycopg.Error) as info:  # a different data key under the right name is refused
        conn.execute("SELECT colcrypt.rewrap_key('stay', 1, 'local', 'local:x', '\\x00', '\\x0000')")
    assert info.value.diag.sqlstate == "KC005" and info.value.diag.message_hint
    assert conn.execute("SELECT provider, kek_ref, wrapped_key FROM colcrypt.key_versions").fetchall() == before
