"""The C module decrypts the docs/format.md vectors, and Python opens what the C module seals."""

import pytest

from colcrypt import envelope
from colcrypt.keys import unwrap_client_side
from colcrypt.providers import local
from tests.db.helpers import raises_sqlstate, scalar
from tests.vectors import load

VECTORS = load()


@pytest.fixture
def vector_conn(bare_db, cluster):
    """A database whose keyring holds the vectors' data key, wrapped with the test cluster's KEK."""
    conn = bare_db.connect()
    kek = local.read_kek_file(cluster.kek_file)
    dek = bytes.fromhex(VECTORS["envelopes"][0]["data_key"])
    for key_id, version in {(v["key_id"], v["key_version"]) for v in VECTORS["envelopes"]}:
        conn.execute("SELECT colcrypt.add_key(%s, %s, 'local', %s, %s, %s)",
                     (key_id, version, local.kek_ref(kek), local.wrap(kek, key_id, version, dek),
                      envelope.key_check_value(dek, key_id, version)))
        conn.execute("SELECT colcrypt.grant_key(%s, 'postgres')", (key_id,))
    with conn:
        yield conn


ENGINES = ["libsodium", "openssl"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("v", VECTORS["envelopes"], ids=lambda v: v["key_id"] + ":" + v["plaintext"][:8])
def test_c_module_decrypts_vector(vector_conn, v, engine):
    conn = vector_conn
    conn.execute("SELECT set_config('colcrypt.aead_engine', %s, false)", (engine,))
    assert scalar(conn, "SELECT colcrypt.decrypt_column(%s, %s)",
                  (bytes.fromhex(v["envelope"]), v["context"])) == v["plaintext"]
    assert scalar(conn, "SELECT key_check_value FROM colcrypt.keyring WHERE key_id = %s",
                  (v["key_id"],)) == v["key_check_value"]


def test_python_opens_what_c_seals(db, conn):
    ct = bytes(scalar(conn, "SELECT colcrypt.encrypt_column('Zoë 123-45-6789', 'k', 'crm.customers.ssn')"))
    ((version, dek),) = unwrap_client_side(conn, "k", db.kek_file)
    assert envelope.parse(ct)[:2] == ("k", version)
    assert envelope.open_(dek, ct, "crm.customers.ssn").decode() == "Zoë 123-45-6789"


@pytest.mark.parametrize(("seal_with", "open_with"), [("libsodium", "openssl"), ("openssl", "libsodium")])
def test_engines_agree(conn, seal_with, open_with):
    values = ["", "x", "Zoë 東京", "y" * 100_000]
    conn.execute("SELECT set_config('colcrypt.aead_engine', %s, false)", (seal_with,))
    cts = [scalar(conn, "SELECT colcrypt.encrypt_column(%s, 'k', 'c')", (v,)) for v in values]
    conn.execute("SELECT set_config('colcrypt.aead_engine', %s, false)", (open_with,))
    assert [scalar(conn, "SELECT colcrypt.decrypt_column(%s, 'c')", (ct,)) for ct in cts] == values
    tampered = bytearray(cts[2])
    tampered[-1] ^= 1
    with raises_sqlstate("KC001"):
        conn.execute("SELECT colcrypt.decrypt_column(%s, 'c')", (bytes(tampered),))


def test_auto_engine_is_the_default(conn):
    conn.execute("SELECT colcrypt.forget_keys()")  # loads the module, which defines the setting
    assert scalar(conn, "SHOW colcrypt.aead_engine") == "auto"
