"""The PKCS#11 provider: the KEK is an AES key inside an HSM (tested with SoftHSM2) that never
leaves it; data keys are wrapped by AES-256-GCM inside the HSM, with the same associated data as the
local provider (key id and version), so a wrapped key cannot be moved to another key or version.

The KEK is named by a PKCS#11 URI (RFC 7512), e.g. pkcs11:token=colcrypt;object=kek-2026, which is
what the keyring stores. The module (the HSM's library) and the user PIN come from the configuration,
never from SQL: on the server colcrypt.provider_config alone (a keyring entry naming a module is refused:
key administrators write the keyring), on a client module-path in the URI (left out of the keyring) or
COLCRYPT_PKCS11_MODULE, and COLCRYPT_PKCS11_PIN_FILE (a file readable only by its owner) or
COLCRYPT_PKCS11_PIN. Wrapped form: nonce(12) || ciphertext || tag(16).
"""

import os
import time
from pathlib import Path
from urllib.parse import unquote

from colcrypt.errors import ColcryptError
from colcrypt.providers.local import dek_aad

NAME = "pkcs11"
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def parse_uri(uri: str) -> dict[str, str]:
    """The path and query attributes of a pkcs11: URI; a PIN in it is refused (it would be stored)."""
    if not uri or not uri.startswith("pkcs11:"):
        raise ColcryptError("KC008", f"{uri!r} is not a PKCS#11 URI",
                            "Name the KEK as pkcs11:token=<token label>;object=<key label>.")
    path, _, query = uri[len("pkcs11:"):].partition("?")
    attrs = {}
    for part in [p for p in path.split(";") if p] + [p for p in query.split("&") if p]:
        name, _, value = part.partition("=")
        attrs[name] = unquote(value)
    if "pin-value" in attrs or "pin-source" in attrs:
        raise ColcryptError("KC008", "the PKCS#11 URI carries a PIN, which the keyring would store",
                            "Give the PIN in COLCRYPT_PKCS11_PIN_FILE (or COLCRYPT_PKCS11_PIN) instead.")
    if not attrs.get("token") or not attrs.get("object"):
        raise ColcryptError("KC008", f"the PKCS#11 URI {uri} does not name a token and an object",
                            "Name the KEK as pkcs11:token=<token label>;object=<key label>.")
    return attrs


def strip_module(uri: str) -> str:
    """The URI without its module-path attribute: what names the KEK, not the library of this machine."""
    path, sep, query = uri[len("pkcs11:"):].partition("?")
    keep = [p for p in path.split(";") if p and not p.startswith("module-path=")]
    params = [p for p in query.split("&") if p and not p.startswith("module-path=")]
    return "pkcs11:" + ";".join(keep) + ("?" + "&".join(params) if params else "")


def _pin(config: dict) -> str:
    path = config.get("pin_file") or os.environ.get("COLCRYPT_PKCS11_PIN_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ColcryptError("KC006", f"pkcs11: the PIN file is not readable ({e.strerror})",
                                "Check COLCRYPT_PKCS11_PIN_FILE (or pin_file in colcrypt.provider_config): it must "
                                "be readable by this process's account alone.") from None
    if os.environ.get("COLCRYPT_PKCS11_PIN"):
        return os.environ["COLCRYPT_PKCS11_PIN"]
    raise ColcryptError("KC006", "pkcs11: no user PIN is configured",
                        "Set COLCRYPT_PKCS11_PIN_FILE to a file holding the token's user PIN.")


class Provider:
    name = NAME

    def __init__(self, uri: str, config: dict | None = None):
        """config: the server's (colcrypt.provider_config), which alone names the module the server
        loads; a client may name one in the URI (module-path), which the keyring never keeps."""
        self.attrs = parse_uri(uri)
        if config is not None and "module-path" in self.attrs:
            raise ColcryptError("KC006", "pkcs11: the keyring's KEK reference names a PKCS#11 module (module-path), "
                                         "which the server never loads from SQL",
                                "The server loads the module colcrypt.provider_config names. Rewrap the key under a "
                                "URI without module-path (colcrypt keys rewrap).")
        self.ref, self.config = strip_module(uri), config or {}
        self.module = (self.attrs.get("module-path") or self.config.get("module")
                       or os.environ.get("COLCRYPT_PKCS11_MODULE", DEFAULT_MODULE))
        os.environ.update(self.config.get("env", {}))  # e.g. SOFTHSM2_CONF, read when the module loads

    def _key(self, session):
        import pkcs11

        try:
            return session.get_key(pkcs11.ObjectClass.SECRET_KEY, pkcs11.KeyType.AES, label=self.attrs["object"])
        except pkcs11.NoSuchKey:
            raise ColcryptError("KC006", f"pkcs11: token {self.attrs['token']!r} has no AES key labelled "
                                         f"{self.attrs['object']!r}",
                                "Create the KEK in the HSM first (an AES-256 key, sensitive, not extractable), "
                                "or check the object= label.") from None

    def _token(self, lib):
        """The token by its label. SoftHSM2 keeps tokens in files that other processes rewrite (a login,
        an object): a token can be missing from one look, so it is looked for three times."""
        import pkcs11

        for attempt in range(3):
            try:
                return lib.get_token(token_label=self.attrs["token"])
            except pkcs11.NoSuchToken:
                if attempt < 2:
                    lib.reinitialize()
                    time.sleep(0.05 * (attempt + 1))
        raise ColcryptError("KC006", f"pkcs11: no token labelled {self.attrs['token']!r} in {self.module}",
                            "Check the token= label (softhsm2-util --show-slots lists them).")

    def _session(self):
        import pkcs11

        try:
            lib = pkcs11.lib(self.module)
        except (RuntimeError, OSError) as e:
            raise ColcryptError("KC006", f"pkcs11: the module {self.module} cannot be loaded ({e})",
                                "Install the HSM's PKCS#11 library or set COLCRYPT_PKCS11_MODULE.") from None
        token = self._token(lib)
        try:
            return token.open(user_pin=_pin(self.config))
        except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid):
            raise ColcryptError("KC006", f"pkcs11: the user PIN for token {self.attrs['token']!r} is wrong",
                                "Fix the PIN in COLCRYPT_PKCS11_PIN_FILE; repeated wrong PINs can lock the "
                                "token.") from None
        except pkcs11.PinLocked:
            raise ColcryptError("KC006", f"pkcs11: the user PIN of token {self.attrs['token']!r} is locked",
                                "The security officer must unlock it.") from None

    def wrap(self, key_id: str, version: int, dek: bytes) -> tuple[str, bytes]:
        import pkcs11

        nonce = os.urandom(12)
        with self._session() as session:
            sealed = self._key(session).encrypt(dek, mechanism=pkcs11.Mechanism.AES_GCM,
                                                mechanism_param=pkcs11.GCMParams(nonce, dek_aad(key_id, version), 128))
        return self.ref, nonce + bytes(sealed)

    def unwrap(self, key_id: str, version: int, wrapped: bytes) -> bytes:
        import pkcs11

        with self._session() as session:
            key = self._key(session)
            try:
                return bytes(key.decrypt(wrapped[12:], mechanism=pkcs11.Mechanism.AES_GCM,
                                         mechanism_param=pkcs11.GCMParams(wrapped[:12], dek_aad(key_id, version), 128)))
            except pkcs11.PKCS11Error:
                raise ColcryptError("KC005", f"pkcs11: wrapped key {key_id} version {version} did not unwrap with "
                                             f"{self.ref}",
                                    "The keyring entry was altered or the HSM key is not the one it was wrapped "
                                    "with; restore colcrypt.key_versions or the HSM key from backup.") from None
