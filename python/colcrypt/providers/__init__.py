"""Key providers: where key-encryption keys (KEKs) live and how data keys are wrapped under them.
Each provider module has a Provider with wrap(key_id, version, dek) -> (kek_ref, wrapped) and
unwrap(key_id, version, wrapped) -> dek; the keyring stores the provider's name, kek_ref and the
wrapped key. Used by the client (keys create, session loading) and the server (unwrap for granted
roles and pg_cron)."""

import importlib.util
from pathlib import Path

from colcrypt.errors import ColcryptError

NAMES = ("local", "pkcs11", "aws-kms")
# What the providers' clients need that a plain `pip install colcrypt` leaves out: (module, distribution, extra).
CLIENTS = {"pkcs11": ("pkcs11", "python-pkcs11", "pkcs11"), "aws-kms": ("boto3", "boto3", "aws")}


def require_client(name: str) -> None:
    """KC010 naming the pip extra when the provider's client library is not installed."""
    if name not in CLIENTS:
        return
    module, distribution, extra = CLIENTS[name]
    if importlib.util.find_spec(module) is None:
        raise ColcryptError("KC010", f"the {name} provider needs the Python package {distribution}, which is not "
                                     "installed", f"pip install 'colcrypt[{extra}]' (or 'colcrypt[pkcs11,aws]' for "
                                                  "both); on a database host, make install puts it in place for the "
                                                  "server.")


def for_kek(name: str, ref: str | None, database: str, kek_file: Path | None = None, create: bool = False,
            config: dict | None = None):
    """The provider that wraps under the KEK named by ref (local: the KEK file). config: the server's
    settings for it (colcrypt.provider_config); the client's come from the environment."""
    require_client(name)
    if name == "local":
        from colcrypt.providers import local

        return local.Provider.from_file(kek_file, create=create)
    if name == "pkcs11":
        from colcrypt.providers import pkcs11

        return pkcs11.Provider(ref or "", config)
    if name == "aws-kms":
        from colcrypt.providers import aws_kms

        return aws_kms.Provider(ref or "", database, config)
    raise ColcryptError("KC008", f"unknown key provider {name!r}", f"Use one of: {', '.join(NAMES)}.")


def for_keyring(name: str, ref: str, database: str, kek_file: Path | None = None, config: dict | None = None):
    """The provider that unwraps a keyring entry (name, kek_ref as stored)."""
    provider = for_kek(name, ref, database, kek_file, config=config)
    if name == "local":
        provider.expect(ref)
    return provider
