"""Keys: the CLI, the keyring, client-loaded session keys, and what drops a cached key."""

import json
import os
import stat

import psycopg
import pytest

import colcrypt
from colcrypt.cli import main
from colcrypt.keys import unwrap_client_side
from tests.db.conftest import new_database
from tests.db.helpers import raises_sqlstate, scalar


def test_cli_creates_kek_file_and_key(bare_db, tmp_path, capsys):
    kek_file = tmp_path / "sub" / "kek"
    assert main(["keys", "create", "cust", "--dsn", bare_db.dsn, "--kek-file", str(kek_file)]) == 0
    out = capsys.readouterr().out
    assert "created a new KEK file" in out and "created key cust version 1" in out
    assert stat.S_IMODE(os.stat(kek_file).st_mode) == 0o600
    assert main(["keys", "list", "--dsn", bare_db.dsn, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["key_id"], row["version"], row["provider"], row["state"]) == ("cust", 1, "local", "active")
    with bare_db.connect() as conn:
        wrapped, kcv = conn.execute("SELECT wrapped_key, kcv FROM colcrypt.key_versions").fetchone()
        ((_, dek),) = unwrap_client_side(conn, "cust", kek_file)
    assert dek not in bytes(wrapped) and len(wrapped) == 12 + 32 + 16 and len(kcv) == 16
    # A second create with the same KEK file reuses it.
    assert main(["keys", "create", "other", "--dsn", bare_db.dsn, "--kek-file", str(kek_file)]) == 0
    assert "created a new KEK file" not in capsys.readouterr().out


def test_cli_errors_are_clear_and_change_nothing(db, tmp_path, capsys):
    assert main(["keys", "create", "k", "--dsn", db.dsn, "--kek-file", str(db.kek_file)]) == 1
    assert "[KC011]" in capsys.readouterr().err
    assert main(["keys", "create", "bad id!", "--dsn", db.dsn, "--kek-file", str(db.kek_file)]) == 1
    err = capsys.readouterr().err
    assert "[KC008]" in err and "HINT:" in err
    assert main(["keys", "grant", "k", "no_such_role", "--dsn", db.dsn]) == 1
    assert "[42704]" in capsys.readouterr().err
    assert main(["keys", "grant", "nokey", "postgres", "--dsn", db.dsn]) == 1
    assert "[KC004]" in capsys.readouterr().err
    with db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM colcrypt.key_versions") == 1
        assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relkind = 'S'"
                            " AND relnamespace = 'colcrypt'::regnamespace") == 1


def test_session_loaded_key_needs_no_grant(db, app_role):
    with db.connect() as admin:
        ct = scalar(admin, "SELECT colcrypt.encrypt_column('secret', 'k', 'c')")
    app_dsn = db.cluster.dsn(db.name, user=app_role)
    with colcrypt.connect(app_dsn, keys=["k"], kek_file=db.kek_file, autocommit=True) as app:
        assert app.execute("SELECT * FROM colcrypt.loaded_keys()").fetchall() == [("k", 1, "session", True)]
        assert scalar(app, "SELECT colcrypt.decrypt_column(%s, 'c')", (ct,)) == "secret"


def test_connect_commits_the_load_outside_autocommit(db, app_role):
    with colcrypt.connect(db.cluster.dsn(db.name, user=app_role), keys=["k"], kek_file=db.kek_file) as app:
        app.rollback()
        assert scalar(app, "SELECT count(*) FROM colcrypt.loaded_keys()") == 1


@pytest.mark.parametrize("reset", ["DISCARD ALL", "RESET ALL", "SELECT colcrypt.forget_keys()"])
def test_reset_drops_session_keys(db, app_role, reset):
    with colcrypt.connect(db.cluster.dsn(db.name, user=app_role), keys=["k"], kek_file=db.kek_file,
                          autocommit=True) as app:
        ct = scalar(app, "SELECT colcrypt.encrypt_column('x', 'k', 'c')")
        app.execute(reset)
        assert app.execute("SELECT * FROM colcrypt.loaded_keys()").fetchall() == []
        with raises_sqlstate("42501"):
            app.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct,))


def test_discard_all_drops_server_unwrapped_keys(conn):
    scalar(conn, "SELECT colcrypt.encrypt_column('x', 'k', 'c')")
    assert scalar(conn, "SELECT count(*) FROM colcrypt.loaded_keys()") == 1
    conn.execute("DISCARD ALL")
    assert scalar(conn, "SELECT count(*) FROM colcrypt.loaded_keys()") == 0
    assert scalar(conn, "SELECT colcrypt.decrypt_column(colcrypt.encrypt_column('x', 'k', 'c'), 'c')") == "x"


def test_rollback_of_the_loading_transaction_drops_the_key(conn):
    conn.execute("BEGIN")
    scalar(conn, "SELECT colcrypt.encrypt_column('x', 'k', 'c')")
    conn.execute("ROLLBACK")
    assert scalar(conn, "SELECT count(*) FROM colcrypt.loaded_keys()") == 0


def test_another_role_on_the_same_connection_cannot_use_session_keys(db, app_role):
    with db.connect() as admin:
        admin.execute("DROP ROLE IF EXISTS other_app")
        admin.execute("CREATE ROLE other_app")
        admin.execute(f"GRANT other_app TO {app_role}")
    try:
        with colcrypt.connect(db.cluster.dsn(db.name, user=app_role), keys=["k"], kek_file=db.kek_file,
                              autocommit=True) as app:
            ct = scalar(app, "SELECT colcrypt.encrypt_column('x', 'k', 'c')")
            app.execute("SET ROLE other_app")
            with raises_sqlstate("42501", "other_app"):
                app.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct,))
            app.execute("RESET ROLE")
    finally:
        with db.connect() as admin:
            admin.execute("DROP ROLE other_app")


def test_sealed_key_is_bound_to_its_session_key_and_version(db, app_role):
    from colcrypt.sealing import seal_for_session

    with db.connect() as conn:
        ((version, dek),) = unwrap_client_side(conn, "k", db.kek_file)
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as a, \
            psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as b:
        with raises_sqlstate("KC009", "no session public key"):
            a.execute("SELECT colcrypt.load_key('k', 1, %s)", (b"\x00" * 92,))
        sealed = seal_for_session(bytes(scalar(a, "SELECT colcrypt.session_public_key()")), "k", 1, dek)
        scalar(b, "SELECT colcrypt.session_public_key()")
        with raises_sqlstate("KC009", "authentication failed"):  # replayed into another backend
            b.execute("SELECT colcrypt.load_key('k', 1, %s)", (sealed,))
        with raises_sqlstate("KC009"):  # relabelled as another version
            a.execute("SELECT colcrypt.load_key('k', 2, %s)", (sealed,))
        with raises_sqlstate("KC009", "wrong length"):
            a.execute("SELECT colcrypt.load_key('k', 1, %s)", (sealed[:-1],))
        wrong = seal_for_session(bytes(scalar(a, "SELECT colcrypt.session_public_key()")), "k", 1, b"\x07" * 32)
        with raises_sqlstate("KC005", "key check value"):
            a.execute("SELECT colcrypt.load_key('k', 1, %s)", (wrong,))
        right = seal_for_session(bytes(scalar(a, "SELECT colcrypt.session_public_key()")), "k", 1, dek)
        a.execute("SELECT colcrypt.load_key('k', 1, %s)", (right,))
        assert scalar(a, "SELECT count(*) FROM colcrypt.loaded_keys()") == 1


def test_wrong_kek_file_is_a_provider_error(db, tmp_path):
    from colcrypt.providers.local import create_kek_file

    other = tmp_path / "other-kek"
    create_kek_file(other)
    with db.connect() as conn:
        with pytest.raises(colcrypt.errors.ColcryptError) as info:
            unwrap_client_side(conn, "k", other)
    assert info.value.sqlstate == "KC006" and "local:" in str(info.value)


def test_tampered_keyring_is_detected_server_side(conn):
    conn.execute("UPDATE colcrypt.key_versions SET wrapped_key = overlay(wrapped_key placing '\\x00' from 20 for 1)")
    with raises_sqlstate("KC005", "did not unwrap"):
        conn.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")


def test_swapped_check_value_is_detected(conn):
    conn.execute("UPDATE colcrypt.key_versions SET kcv = '\\x00000000000000000000000000000000'")
    with raises_sqlstate("KC005", "key check value"):
        conn.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")


def test_server_side_unwrap_needs_configuration(cluster):
    db = new_database(cluster)
    with psycopg.connect(cluster.dsn(), autocommit=True) as su:
        su.execute("ALTER SYSTEM SET colcrypt.kek_file = ''")
        su.execute("SELECT pg_reload_conf()")
    try:
        with db.connect() as conn:
            conn.execute("SELECT pg_sleep(0.2)")
            with raises_sqlstate("42501", "server-side unwrapping is not configured"):
                conn.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")
            with pytest.raises(psycopg.errors.CantChangeRuntimeParam):  # only postgresql.conf sets it
                conn.execute(f"SET colcrypt.kek_file = '{cluster.kek_file}'")
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as su:
            su.execute("ALTER SYSTEM RESET colcrypt.kek_file")
            su.execute("SELECT pg_reload_conf()")


def test_unwrap_function_is_not_callable_by_users(db, app_role):
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # PostgreSQL's own check
            app.execute("SELECT colcrypt._unwrap_key('k', 1, '/tmp/x', '/tmp')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT colcrypt.add_key('x', 1, 'local', 'r', '\\x00', '\\x00')")


def test_retired_key_decrypts_but_does_not_encrypt(conn):
    ct = scalar(conn, "SELECT colcrypt.encrypt_column('old', 'k', 'c')")
    conn.execute("UPDATE colcrypt.key_versions SET state = 'retired'")
    conn.execute("SELECT colcrypt.forget_keys()")
    assert scalar(conn, "SELECT colcrypt.decrypt_column(%s, 'c')", (ct,)) == "old"
    with raises_sqlstate("KC007", "no active version"):
        conn.execute("SELECT colcrypt.encrypt_column('new', 'k', 'c')")
    conn.execute("UPDATE colcrypt.key_versions SET state = 'destroyed'")
    conn.execute("SELECT colcrypt.forget_keys()")
    with raises_sqlstate("KC007", "destroyed"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct,))
