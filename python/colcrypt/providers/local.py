"""The local provider: a KEK in a file, for development, the embedded cluster and small setups.

Wrapped data key: nonce(12) || AES-256-GCM(KEK, nonce, dek, aad) with
aad = 'colcrypt-dek-v1' 0x00 key_id 0x00 version(4, big-endian), so a wrapped key cannot be
moved to another key id or version. The KEK reference stored in the keyring is
'local:' + the first 8 bytes (hex) of HMAC-SHA256(KEK, 'colcrypt-kek-id-v1').
"""

import os
import struct
from hashlib import sha256
from hmac import new as hmac_new
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from colcrypt.errors import ColcryptError

KEK_LEN = 32
NAME = "local"


def default_kek_file() -> Path:
    if os.environ.get("COLCRYPT_KEK_FILE"):
        return Path(os.environ["COLCRYPT_KEK_FILE"])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "colcrypt" / "kek"


def create_kek_file(path: Path) -> bytes:
    """Write a new random KEK (hex) to path with mode 0600; refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    kek = os.urandom(KEK_LEN)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ColcryptError("KC006", f"KEK file {path} already exists",
                            "Use it as it is, or move it away first: "
                            "losing a KEK loses every key wrapped with it.") from None
    with os.fdopen(fd, "w") as f:
        f.write(kek.hex() + "\n")
    return kek


class KekFileError(ColcryptError):
    """A KEK file that cannot serve; reason says why without naming the file (the server hides its path)."""

    def __init__(self, path: Path, reason: str, hint: str):
        super().__init__("KC006", f"KEK file {path} {reason}", hint)
        self.reason = reason


def read_kek_file(path: Path | str) -> bytes:
    """Read a KEK file holding 64 hex characters or 32 raw bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KekFileError(path, "does not exist", "Create one with colcrypt keys create (it makes the file), "
                           "or point --kek-file / COLCRYPT_KEK_FILE / colcrypt.kek_file at it.") from None
    except PermissionError:
        raise KekFileError(path, f"is not readable by this process (uid {os.geteuid()})",
                           "For server-side unwrapping the file must be readable by the server's account.") from None
    except OSError as e:  # a directory, a device that fails
        raise KekFileError(path, f"cannot be read ({e.strerror})", "Name a file that holds the KEK.") from None
    text = raw.strip()
    if len(raw) == KEK_LEN and len(text) != 2 * KEK_LEN:
        return raw
    try:
        kek = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        kek = b""
    if len(kek) != KEK_LEN:
        raise KekFileError(path, "does not hold a 256-bit key",
                           "The file must hold 64 hexadecimal characters (or 32 raw bytes).")
    return kek


def kek_ref(kek: bytes) -> str:
    return "local:" + hmac_new(kek, b"colcrypt-kek-id-v1", sha256).digest()[:8].hex()


def dek_aad(key_id: str, version: int) -> bytes:
    return b"colcrypt-dek-v1\x00" + key_id.encode() + b"\x00" + struct.pack(">I", version)


def wrap(kek: bytes, key_id: str, version: int, dek: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, dek, dek_aad(key_id, version))


def unwrap(kek: bytes, ref: str, key_id: str, version: int, wrapped: bytes) -> bytes:
    """Unwrap a data key; KC006 if the KEK is not the one named by ref, KC005 if it fails."""
    if kek_ref(kek) != ref:
        raise ColcryptError("KC006", f"key {key_id} version {version} is wrapped with KEK {ref}, "
                            f"but the KEK file given holds {kek_ref(kek)}",
                            "Point the KEK file setting at the KEK this key was created with.")
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], dek_aad(key_id, version))
    except InvalidTag:
        raise ColcryptError("KC005", f"wrapped key {key_id} version {version} did not unwrap",
                            "The keyring entry was altered; "
                            "restore it from a backup of colcrypt.key_versions.") from None


class Provider:
    """The local provider behind the common interface (see colcrypt.providers)."""

    name = NAME

    def __init__(self, kek: bytes, path: Path | None = None, created: bool = False):
        self.kek, self.ref, self.path, self.created = kek, kek_ref(kek), path, created
        self.expected = self.ref

    @classmethod
    def from_file(cls, kek_file: Path | None, create: bool = False) -> "Provider":
        """The KEK from kek_file (or the default), made on first use when create is true."""
        path = Path(kek_file) if kek_file else default_kek_file()
        if create and not path.exists():
            return cls(create_kek_file(path), path, created=True)
        return cls(read_kek_file(path), path)

    def expect(self, ref: str) -> None:
        self.expected = ref

    def wrap(self, key_id: str, version: int, dek: bytes) -> tuple[str, bytes]:
        return self.ref, wrap(self.kek, key_id, version, dek)

    def unwrap(self, key_id: str, version: int, wrapped: bytes) -> bytes:
        return unwrap(self.kek, self.expected, key_id, version, wrapped)
