"""Keys: the CLI, the keyring, client-loaded session keys, and what drops a cached key."""

import json
import os
import stat
import tempfile
import time

import psycopg
import pytest

import colcrypt
from colcrypt.cli import main
from colcrypt.keys import unwrap_client_side
from tests.conftest import new_database
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
        assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relname ^@ 'key_counter_'"
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
    conn.execute("UPDATE colcrypt.key_versions"
                 " SET wrapped_key = set_byte(wrapped_key, 19, get_byte(wrapped_key, 19) # 1)")
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
            _wait_for_setting(conn, "")
            with raises_sqlstate("42501", "server-side unwrapping is not configured"):
                conn.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")
            with pytest.raises(psycopg.errors.CantChangeRuntimeParam):  # only postgresql.conf sets it
                conn.execute(f"SET colcrypt.kek_file = '{cluster.kek_file}'")
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as su:
            su.execute("ALTER SYSTEM RESET colcrypt.kek_file")
            su.execute("SELECT pg_reload_conf()")
            _wait_for_setting(su, str(cluster.kek_file))


def _wait_for_setting(conn, value: str) -> None:
    """Wait until this backend has applied a configuration reload of colcrypt.kek_file."""
    conn.execute("LOAD 'colcrypt'")  # the module defines the setting
    deadline = time.monotonic() + 10
    while scalar(conn, "SELECT current_setting('colcrypt.kek_file')") != value:
        assert time.monotonic() < deadline, "the configuration reload did not arrive"
        time.sleep(0.05)


def test_unwrap_function_is_not_callable_by_users(db, app_role):
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # PostgreSQL's own check
            app.execute("SELECT colcrypt._unwrap_key('k', 1, '\\x00')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT colcrypt.add_key('x', 1, 'local', 'r', '\\x00', '\\x00')")


def test_unwrap_function_granted_by_mistake_still_gives_nothing(db, app_role):
    with db.connect() as admin:  # what ALTER DEFAULT PRIVILEGES ... GRANT EXECUTE would do
        admin.execute(f"GRANT EXECUTE ON FUNCTION colcrypt._unwrap_key(text, integer, bytea) TO {app_role}")
        admin.execute(f"SELECT colcrypt.grant_key('k', '{app_role}')")
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        for token in (b"\x00" * 16, b""):
            with raises_sqlstate("42501", "only be called by colcrypt itself"):
                app.execute("SELECT colcrypt._unwrap_key('k', 1, %s)", (token,))
        assert scalar(app, "SELECT colcrypt.decrypt_column(colcrypt.encrypt_column('v', 'k', 'c'), 'c')") == "v"
        with raises_sqlstate("42501", "only be called by colcrypt itself"):  # not even after a real call
            app.execute("SELECT colcrypt._unwrap_key('k', 1, %s)", (b"\x00" * 16,))


def test_parallel_query_neither_crashes_nor_loads_keys(conn):
    conn.execute("CREATE TABLE p AS SELECT g AS id, colcrypt.encrypt_column(g::text, 'k', 'p') AS c"
                 " FROM generate_series(1, 20000) g")
    conn.execute("ANALYZE p")
    conn.execute("DISCARD ALL")
    for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                    "max_parallel_workers_per_gather = 2"):
        conn.execute(f"SET {setting}")
    for _ in range(2):  # the second run used to crash the server
        assert scalar(conn, "SELECT count(colcrypt.decrypt_column(c, 'p')) FROM p WHERE id % 10 = 0") == 2000
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN SELECT count(colcrypt.decrypt_column(c, 'p')) FROM p WHERE id % 10 = 0"))
    assert "Gather" not in plan  # decrypt_column is PARALLEL UNSAFE


def test_active_version_moves_to_a_newly_loaded_version(db, conn):
    from colcrypt import envelope
    from colcrypt.providers import local

    scalar(conn, "SELECT colcrypt.encrypt_column('x', 'k', 'c')")
    kek = local.read_kek_file(db.kek_file)
    dek2 = os.urandom(32)
    conn.execute("UPDATE colcrypt.key_versions SET state = 'retired' WHERE key_id = 'k'")
    conn.execute("SELECT colcrypt.add_key('k', 2, 'local', %s, %s, %s)",
                 (local.kek_ref(kek), local.wrap(kek, "k", 2, dek2), envelope.key_check_value(dek2, "k", 2)))
    conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')",  # loads v2 by reading a v2 value
                 (envelope.seal(dek2, "k", 2, b"y", "c"),))
    # the keyring changed: version 1, unwrapped server-side, was dropped, to be unwrapped again when used
    assert conn.execute("SELECT version, active FROM colcrypt.loaded_keys()").fetchall() == [(2, True)]
    ct = bytes(scalar(conn, "SELECT colcrypt.encrypt_column('z', 'k', 'c')"))
    assert envelope.parse(ct)[:2] == ("k", 2)


def test_session_private_key_is_dropped_by_discard_all(db, app_role):
    from colcrypt.sealing import seal_for_session

    with db.connect() as conn:
        ((version, dek),) = unwrap_client_side(conn, "k", db.kek_file)
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        for reset in ("DISCARD ALL", "RESET ALL"):
            public = bytes(scalar(app, "SELECT colcrypt.session_public_key()"))
            app.execute(reset)
            with raises_sqlstate("KC009", "no session public key"):
                app.execute("SELECT colcrypt.load_key('k', 1, %s)", (seal_for_session(public, "k", 1, dek),))


def test_envelope_with_an_impossible_key_id_is_malformed(conn):
    ct = bytes(scalar(conn, "SELECT colcrypt.encrypt_column('v', 'k', 'c')"))
    with raises_sqlstate("KC002", "key id"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (ct[:3] + b"\x00" + ct[4:],))


def test_counter_must_be_a_colcrypt_sequence(conn):
    conn.execute("CREATE SEQUENCE public.app_ids")
    conn.execute("UPDATE colcrypt.key_versions SET counter = 'public.app_ids'")
    with raises_sqlstate("KC005", "not a colcrypt sequence"):
        conn.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")
    assert scalar(conn, "SELECT last_value FROM public.app_ids") == 1


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


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_provider_errors_do_not_reveal_the_kek_path(cluster, app_role, where):
    """A missing file, or a directory named as the file (0.2.0 showed that one's path)."""
    path = "/nonexistent/secret-place/kek"
    if where == "directory":  # one the server's account can reach
        path = tempfile.mkdtemp(prefix="colcrypt-secret-place-", dir="/tmp")
        os.chmod(path, 0o755)  # noqa: S103 - the server's account must reach it
    db = new_database(cluster)
    with db.connect() as admin:
        admin.execute(f"SELECT colcrypt.grant_key('k', '{app_role}')")
        admin.execute(f"ALTER SYSTEM SET colcrypt.kek_file = '{path}'")
        admin.execute("SELECT pg_reload_conf()")
    try:
        with psycopg.connect(cluster.dsn(db.name), autocommit=True) as su:
            _wait_for_setting(su, path)
        with psycopg.connect(cluster.dsn(db.name, user=app_role), autocommit=True) as app:
            with raises_sqlstate("KC006", "colcrypt.kek_file") as info:
                app.execute("SELECT colcrypt.encrypt_column('x', 'k', 'c')")
            assert "secret-place" not in str(info.value) and "secret-place" not in str(info.value.diag.context)
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as su:
            su.execute("ALTER SYSTEM RESET colcrypt.kek_file")
            su.execute("SELECT pg_reload_conf()")
            _wait_for_setting(su, str(cluster.kek_file))
        if where == "directory":
            os.rmdir(path)


def test_blind_index_matches_the_reference_and_needs_the_key(db, app_role):
    from colcrypt.envelope import blind_index

    with db.connect() as conn:
        ((_, dek),) = unwrap_client_side(conn, "k", db.kek_file)
        for value in ("123-45-6789", "", "ünïcødé"):
            assert bytes(scalar(conn, "SELECT colcrypt.blind_index(%s, 'k', 'crm.customers.ssn')", (value,))) == \
                blind_index(dek, "crm.customers.ssn", value)
        assert scalar(conn, "SELECT colcrypt.blind_index(NULL, 'k', 'c')") is None
        assert scalar(conn, "SELECT colcrypt.blind_index('x', 'k', 'a') <> colcrypt.blind_index('x', 'k', 'b')")
        with raises_sqlstate("KC008", "context must not be NULL"):
            conn.execute("SELECT colcrypt.blind_index('x', 'k', NULL)")
    with psycopg.connect(db.cluster.dsn(db.name, user=app_role), autocommit=True) as app:
        with raises_sqlstate("42501"):
            app.execute("SELECT colcrypt.blind_index('x', 'k', 'c')")


def test_a_key_administrator_needs_no_superuser(db, roles, tmp_path):
    """Members of colcrypt_key_admin create, grant, rotate, rewrap and destroy keys; they have no rights on the
    keyring's tables themselves, and the keyring and the event log record who they are."""
    from colcrypt.keys import create_key, destroy_key, rewrap_key, rotate_key

    new_kek = tmp_path / "new.kek"
    with roles.connect(roles.keyadmin) as admin:
        create_key(admin, "ka", kek_file=db.kek_file)
        admin.execute("SELECT colcrypt.grant_key('ka', %s)", (roles.app,))
        assert rotate_key(admin, "ka", db.kek_file)["version"] == 2
        assert len(rewrap_key(admin, "ka", "local", kek_file=new_kek, old_kek_file=db.kek_file)) == 2
        assert admin.execute("SELECT colcrypt.revoke_key('ka', %s)", (roles.app,)).fetchone() == (True,)
        assert destroy_key(admin, "ka", 1) == 1
        for sql in (f"INSERT INTO colcrypt.key_grants (key_id, grantee) VALUES ('k', '{roles.keyadmin}')",
                    "UPDATE colcrypt.key_versions SET state = 'active'", "DELETE FROM colcrypt.key_grants"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute(sql)
    with db.connect() as conn:
        assert {r[0] for r in conn.execute("SELECT created_by FROM colcrypt.key_versions WHERE key_id = 'ka'")} == \
            {roles.keyadmin}
        assert {r[0] for r in conn.execute("SELECT by_role FROM colcrypt.migration_events"
                                           " WHERE detail ->> 'key_id' = 'ka'")} == {roles.keyadmin}
    with roles.connect(roles.app) as app:  # not an administrator
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT colcrypt.grant_key('k', %s)", (roles.app,))
