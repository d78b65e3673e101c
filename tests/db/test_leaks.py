"""No KEK or data-key bytes in the server log, pg_stat_statements, pg_stat_activity or a dump,
after key creation, grant, client-side loading and use (the cluster logs every statement,
with durations and bind parameters)."""

import base64
import subprocess

import psycopg

import colcrypt
from colcrypt.cli import main
from colcrypt.keys import unwrap_client_side
from colcrypt.providers import local
from tests.db.helpers import scalar


def _forms(secret: bytes) -> list[bytes]:
    """The ways a key could be spelled in text: raw, hex (both cases), base64, escaped bytea."""
    h = secret.hex()
    return [secret, h.encode(), h.upper().encode(), base64.b64encode(secret),
            "".join(f"\\{b:03o}" for b in secret).encode()]


def test_no_key_material_anywhere(bare_db, app_role):
    kek_file = bare_db.kek_file  # the KEK the server reads too, so both paths are exercised
    dsn = bare_db.dsn
    assert main(["keys", "create", "pii", "--dsn", dsn, "--kek-file", str(kek_file)]) == 0
    assert main(["keys", "grant", "pii", "postgres", "--dsn", dsn]) == 0
    with bare_db.connect() as conn:
        ((_, dek),) = unwrap_client_side(conn, "pii", kek_file)
    kek = local.read_kek_file(kek_file)

    with bare_db.connect() as granted:  # server-side unwrapping
        ct = scalar(granted, "SELECT colcrypt.encrypt_column('123-45-6789', 'pii', 'c')")
        assert scalar(granted, "SELECT source FROM colcrypt.loaded_keys()") == "server"
    with colcrypt.connect(bare_db.cluster.dsn(bare_db.name, user=app_role), keys=["pii"], kek_file=kek_file,
                          autocommit=True) as app:
        assert scalar(app, "SELECT colcrypt.decrypt_column(%s, 'c')", (ct,)) == "123-45-6789"
        assert scalar(app, "SELECT source FROM colcrypt.loaded_keys()") == "session"
        with bare_db.connect() as su:  # as superuser, while the app session sits idle after loading
            activity = scalar(su, "SELECT string_agg(coalesce(query, ''), E'\\n') FROM pg_stat_activity")
        assert "colcrypt.loaded_keys()" in activity  # the idle app session is visible here
    with psycopg.connect(bare_db.dsn, autocommit=True) as su:
        statements = scalar(su, "SELECT string_agg(query, E'\\n') FROM pg_stat_statements")
        settings = scalar(su, "SELECT string_agg(coalesce(s::text, ''), E'\\n') FROM pg_db_role_setting s")
    dump = subprocess.run([str(bare_db.cluster.bindir / "pg_dump"), "-d", bare_db.dsn], capture_output=True,
                          check=True).stdout
    log = bare_db.cluster.log_file.read_bytes()

    assert b"colcrypt.load_key" in log and b"parameters:" in log  # the log really has statements and binds
    assert "load_key" in statements
    haystacks = {"server log": log, "pg_stat_statements": statements.encode(), "pg_stat_activity": activity.encode(),
                 "pg_db_role_setting": (settings or "").encode(), "pg_dump": dump}
    for name, secret in (("KEK", kek), ("data key", dek)):
        for where, text in haystacks.items():
            for form in _forms(secret):
                assert form not in text, f"{name} found in {where}"


def test_the_search_would_see_a_leak(db):
    """Control: a key sent carelessly as a bind parameter is found in the log by the same search."""
    careless = bytes(range(100, 132))
    with db.connect() as conn:
        conn.execute("SELECT octet_length(%s::bytea)", (careless,))
    log = db.cluster.log_file.read_bytes()
    assert any(form in log for form in _forms(careless))
