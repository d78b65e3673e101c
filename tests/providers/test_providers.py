"""Keys created with each provider wrap and unwrap, load into a session and decrypt what they
encrypted; every provider error is clear, names the provider and changes nothing."""

import psycopg
import pytest

from colcrypt.errors import ColcryptError
from colcrypt.keys import create_key, list_keys, unwrap_client_side
from colcrypt.session import connect


def _round_trip(db, key_id: str) -> None:
    with connect(db.dsn, keys=[key_id], autocommit=True) as c:
        assert c.execute("SELECT colcrypt.decrypt_column(colcrypt.encrypt_column('Jürgen', %s, 'ctx'), 'ctx')",
                         (key_id,)).fetchone() == ("Jürgen",)


def test_a_key_in_the_hsm_wraps_a_data_key_that_never_leaves_unwrapped(db, conn, softhsm):
    info = create_key(conn, "hsm-key", "pkcs11", kek=softhsm + "kek-1")
    assert info["kek_ref"] == "pkcs11:token=colcrypt-test;object=kek-1" and info["provider"] == "pkcs11"
    row = conn.execute("SELECT provider, kek_ref, length(wrapped_key) FROM colcrypt.key_versions"
                       " WHERE key_id = 'hsm-key'").fetchone()
    assert row == ("pkcs11", "pkcs11:token=colcrypt-test;object=kek-1", 12 + 32 + 16)
    [(version, dek)] = unwrap_client_side(conn, "hsm-key", None)
    assert version == 1 and len(dek) == 32
    _round_trip(db, "hsm-key")


def test_a_key_under_kms_carries_its_encryption_context(db, conn, kms):
    info = create_key(conn, "kms-key", "aws-kms", kek=kms["alias"])
    assert info["kek_ref"] == kms["arn"]  # the keyring names the key itself, not a movable alias
    _round_trip(db, "kms-key")
    wrapped = bytes(conn.execute("SELECT wrapped_key FROM colcrypt.key_versions WHERE key_id = 'kms-key'"
                                 ).fetchone()[0])
    plain = kms["client"].decrypt(CiphertextBlob=wrapped, EncryptionContext={
        "colcrypt:database": conn.info.dbname, "colcrypt:key-id": "kms-key", "colcrypt:key-version": "1",
        "colcrypt:purpose": "data-key"})["Plaintext"]
    assert len(plain) == 32
    with pytest.raises(Exception, match="InvalidCiphertext"):  # another database's context does not open it
        kms["client"].decrypt(CiphertextBlob=wrapped, EncryptionContext={
            "colcrypt:database": "other", "colcrypt:key-id": "kms-key", "colcrypt:key-version": "1",
            "colcrypt:purpose": "data-key"})


def _refused(conn, sqlstate: str, match: str, *args, **kwargs) -> None:
    before = len(list_keys(conn))
    with pytest.raises(ColcryptError) as info:
        create_key(conn, *args, **kwargs)
    assert info.value.sqlstate == sqlstate and match in str(info.value), str(info.value)
    assert info.value.hint
    assert len(list_keys(conn)) == before


def test_hsm_errors_are_clear_and_change_nothing(conn, softhsm, monkeypatch, tmp_path):
    _refused(conn, "KC006", "pkcs11: token 'colcrypt-test' has no AES key labelled 'nope'", "k1", "pkcs11",
             kek=softhsm + "nope")
    _refused(conn, "KC006", "pkcs11: no token labelled 'elsewhere'", "k1", "pkcs11",
             kek="pkcs11:token=elsewhere;object=kek-1")
    _refused(conn, "KC008", "carries a PIN", "k1", "pkcs11", kek=softhsm + "kek-1;pin-value=1234")
    _refused(conn, "KC008", "provider pkcs11 needs --kek", "k1", "pkcs11")
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("0000\n")
    monkeypatch.setenv("COLCRYPT_PKCS11_PIN_FILE", str(wrong))
    _refused(conn, "KC006", "pkcs11: the user PIN for token 'colcrypt-test' is wrong", "k1", "pkcs11",
             kek=softhsm + "kek-1")


def test_kms_errors_are_clear_and_change_nothing(conn, kms, monkeypatch):
    _refused(conn, "KC006", "aws-kms: encrypt with alias/nope refused: NotFoundException", "k1", "aws-kms",
             kek="alias/nope")
    create_key(conn, "kms-2", "aws-kms", kek=kms["alias"])
    conn.execute("UPDATE colcrypt.key_versions"
                 " SET wrapped_key = set_byte(wrapped_key, 59, get_byte(wrapped_key, 59) # 1) WHERE key_id = 'kms-2'")
    with pytest.raises(ColcryptError, match="aws-kms: a wrapped key did not unwrap") as info:
        unwrap_client_side(conn, "kms-2", None)
    assert info.value.sqlstate == "KC005"
    monkeypatch.setenv("COLCRYPT_AWS_KMS_ENDPOINT", "http://127.0.0.1:9")
    _refused(conn, "KC006", "aws-kms: KMS is unreachable", "k1", "aws-kms", kek=kms["alias"])


def test_the_cli_creates_keys_with_each_provider(db, softhsm, kms, capsys):
    from colcrypt.cli import main

    assert main(["keys", "create", "--dsn", db.dsn, "cli-hsm", "--provider", "pkcs11", "--kek",
                 softhsm + "kek-2"]) == 0
    assert main(["keys", "create", "--dsn", db.dsn, "cli-kms", "--provider", "aws-kms", "--kek", kms["alias"]]) == 0
    out = capsys.readouterr().out
    assert "provider pkcs11, KEK pkcs11:token=colcrypt-test;object=kek-2" in out and kms["arn"] in out
    assert main(["keys", "create", "--dsn", db.dsn, "cli-bad", "--provider", "pkcs11", "--kek", "x"]) == 1
    assert "is not a PKCS#11 URI" in capsys.readouterr().err
    with psycopg.connect(db.dsn) as c:
        assert {r[0] for r in c.execute("SELECT key_id FROM colcrypt.key_versions")} >= {"cli-hsm", "cli-kms"}


@pytest.mark.parametrize(("provider", "kek"), [("pkcs11", "kek-1"), ("aws-kms", "alias")])
def test_the_server_unwraps_for_a_granted_role_with_each_provider(db, conn, app_role, softhsm, kms,
                                                                  server_providers, provider, kek):
    key_id = f"server-{provider}"
    create_key(conn, key_id, provider, kek=softhsm + kek if provider == "pkcs11" else kms[kek])
    conn.execute("SELECT colcrypt.grant_key(%s, %s)", (key_id, app_role))
    with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
        assert app.execute("SELECT colcrypt.decrypt_column(colcrypt.encrypt_column('Zoë', %s, 'c'), 'c')",
                           (key_id,)).fetchone() == ("Zoë",)  # nothing loaded by the client: the server unwrapped


def test_a_provider_config_readable_by_others_is_refused(db, conn, app_role, softhsm, server_providers):
    create_key(conn, "loose", "pkcs11", kek=softhsm + "kek-1")
    conn.execute("SELECT colcrypt.grant_key('loose', %s)", (app_role,))
    server_providers.chmod(0o644)
    try:
        with psycopg.connect(db.dsn.replace("user=postgres", f"user={app_role}"), autocommit=True) as app:
            with pytest.raises(psycopg.Error) as info:
                app.execute("SELECT colcrypt.encrypt_column('x', 'loose', 'c')")
        assert info.value.diag.sqlstate == "KC006" and "readable by it alone" in info.value.diag.message_primary
        assert str(server_providers) not in str(info.value)  # the path is for superusers
    finally:
        server_providers.chmod(0o600)
