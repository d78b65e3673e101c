"""The local provider's KEK file handling and wrapping."""

import os
import stat

import pytest

from colcrypt.errors import ColcryptError
from colcrypt.providers import local


def test_create_kek_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "conf" / "kek"
    kek = local.create_kek_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local.read_kek_file(path) == kek
    with pytest.raises(ColcryptError) as info:
        local.create_kek_file(path)
    assert info.value.sqlstate == "KC006" and info.value.hint
    assert local.read_kek_file(path) == kek


def test_raw_32_byte_kek_file_is_accepted(tmp_path):
    raw = bytes(range(32))
    (tmp_path / "raw").write_bytes(raw)
    assert local.read_kek_file(tmp_path / "raw") == raw


@pytest.mark.parametrize("content", [b"", b"abc", b"zz" * 32, b"00" * 31, b"00" * 33])
def test_malformed_kek_file(tmp_path, content):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(ColcryptError) as info:
        local.read_kek_file(tmp_path / "bad")
    assert info.value.sqlstate == "KC006" and "256-bit" in str(info.value)


def test_missing_kek_file(tmp_path):
    with pytest.raises(ColcryptError) as info:
        local.read_kek_file(tmp_path / "nope")
    assert info.value.sqlstate == "KC006" and "does not exist" in str(info.value)


def test_default_kek_file_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COLCRYPT_KEK_FILE", str(tmp_path / "x"))
    assert local.default_kek_file() == tmp_path / "x"
    monkeypatch.delenv("COLCRYPT_KEK_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert local.default_kek_file() == tmp_path / "colcrypt" / "kek"


def test_wrap_is_bound_to_key_id_version_and_kek():
    kek, dek = os.urandom(32), os.urandom(32)
    wrapped = local.wrap(kek, "k", 1, dek)
    assert dek not in wrapped and len(wrapped) == 60
    assert local.unwrap(kek, local.kek_ref(kek), "k", 1, wrapped) == dek
    for key_id, version in (("j", 1), ("k", 2)):
        with pytest.raises(ColcryptError) as info:
            local.unwrap(kek, local.kek_ref(kek), key_id, version, wrapped)
        assert info.value.sqlstate == "KC005"
    other = os.urandom(32)
    with pytest.raises(ColcryptError) as info:
        local.unwrap(other, local.kek_ref(kek), "k", 1, wrapped)
    assert info.value.sqlstate == "KC006" and local.kek_ref(other) in str(info.value)
