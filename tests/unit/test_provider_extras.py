"""A provider whose client library is not installed (`pip install colcrypt` without the extra) is a clear
error naming the extra, not a traceback (0.2.0: ModuleNotFoundError)."""

import importlib.util

import pytest

from colcrypt import providers
from colcrypt.cli import main
from colcrypt.errors import ColcryptError


@pytest.fixture
def without(monkeypatch):
    def hide(*modules):
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name in modules else find_spec(name, *a))
    return hide


@pytest.mark.parametrize(("provider", "module", "extra"), [("pkcs11", "pkcs11", "pkcs11"), ("aws-kms", "boto3", "aws")])
def test_a_missing_client_library_names_the_extra(without, provider, module, extra):
    without(module)
    with pytest.raises(ColcryptError) as info:
        providers.for_kek(provider, "pkcs11:token=t;object=o" if provider == "pkcs11" else "alias/k", "db")
    assert info.value.sqlstate == "KC010" and f"colcrypt[{extra}]" in info.value.hint


def test_the_cli_says_which_extra_to_install(without, capsys):
    without("pkcs11")
    code = main(["keys", "create", "k", "--provider", "pkcs11", "--kek", "pkcs11:token=t;object=o",
                 "--dsn", "host=/nonexistent dbname=x"])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.err
    assert "python-pkcs11" in out.err and "pip install 'colcrypt[pkcs11]'" in out.err


def test_the_server_never_loads_a_pkcs11_module_named_in_the_keyring():
    """Key administrators write the keyring; 0.2.0's server loaded the module-path of a keyring entry."""
    from colcrypt.providers import pkcs11

    uri = "pkcs11:token=t;object=o;module-path=/opt/evil.so"
    with pytest.raises(ColcryptError) as info:
        pkcs11.Provider(uri, config={"module": "/usr/lib/softhsm/libsofthsm2.so"})
    assert info.value.sqlstate == "KC006" and "module-path" in info.value.args[0]
    client = pkcs11.Provider(uri)  # a client may name its library, which the keyring does not keep
    assert client.module == "/opt/evil.so" and client.ref == "pkcs11:token=t;object=o"
