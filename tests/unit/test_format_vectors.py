"""The Python reference implementation reproduces every vector in docs/format.md."""

import pytest

from colcrypt import envelope
from colcrypt.errors import ColcryptError
from colcrypt.providers import local
from tests.vectors import load

VECTORS = load()


@pytest.mark.parametrize("v", VECTORS["envelopes"], ids=lambda v: v["key_id"] + ":" + v["plaintext"][:8])
def test_envelope_vector(v):
    dek = bytes.fromhex(v["data_key"])
    sealed = envelope.seal(dek, v["key_id"], v["key_version"], v["plaintext"].encode(), v["context"],
                           nonce=bytes.fromhex(v["nonce"]))
    assert sealed.hex() == v["envelope"]
    assert envelope.parse(sealed)[:2] == (v["key_id"], v["key_version"])
    assert envelope.open_(dek, sealed, v["context"]).decode() == v["plaintext"]
    assert envelope.key_check_value(dek, v["key_id"], v["key_version"]).hex() == v["key_check_value"]
    with pytest.raises(ColcryptError) as info:
        envelope.open_(dek, sealed, v["context"] + "x")
    assert info.value.sqlstate == "KC001"


def test_local_wrap_vector():
    w = VECTORS["local_wrap"]
    kek = bytes.fromhex(w["kek"])
    assert local.kek_ref(kek) == w["kek_ref"]
    dek = local.unwrap(kek, w["kek_ref"], w["key_id"], w["key_version"], bytes.fromhex(w["wrapped_key"]))
    assert dek.hex() == w["data_key"]
    with pytest.raises(ColcryptError) as info:
        local.unwrap(kek, w["kek_ref"], w["key_id"], w["key_version"] + 1, bytes.fromhex(w["wrapped_key"]))
    assert info.value.sqlstate == "KC005"


def test_random_nonces_differ():
    dek = bytes(32)
    assert envelope.seal(dek, "k", 1, b"v", "c") != envelope.seal(dek, "k", 1, b"v", "c")


@pytest.mark.parametrize(("blob", "sqlstate"), [
    (b"", "KC002"), (b"\x01\x01", "KC002"), (b"\x02\x01\x01k" + bytes(40), "KC003"),
    (b"\x01\x02\x01k" + bytes(40), "KC003"), (b"\x01\x01\x00" + bytes(40), "KC002"),
    (b"\x01\x01\x01k\x00\x00\x00\x01" + bytes(27), "KC002"),
])
def test_malformed_envelopes(blob, sqlstate):
    with pytest.raises(ColcryptError) as info:
        envelope.parse(blob)
    assert info.value.sqlstate == sqlstate
