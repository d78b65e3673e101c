"""Key providers: where key-encryption keys (KEKs) live and how data keys are wrapped under them.
Each provider module has a Provider with wrap(key_id, version, dek) -> (kek_ref, wrapped) and
unwrap(key_id, version, wrapped) -> dek; the keyring stores the provider's name, kek_ref and the
wrapped key. Used by the client (keys create, session loading) and the server (unwrap for granted
roles and pg_cron)."""

from pathlib import Path

from colcrypt.errors import ColcryptError

NAMES = ("local", "pkcs11", "aws-kms")


def for_kek(name: str, ref: str | None, database: str, kek_file: Path | None = None, create: bool = False,
            config: dict | None = None):
    """The provider that wraps under the KEK named by ref (local: the KEK file). config: the server's
    settings for it (colcrypt.provider_config); the client's come from the environment."""
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
