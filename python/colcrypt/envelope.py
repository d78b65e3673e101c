"""The colcrypt value envelope and key check value: the reference for docs/format.md.

The server's C module implements the same format; tests check both against the same vectors.
"""

import os
import struct
from hashlib import sha256
from hmac import new as hmac_new

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from colcrypt.errors import ColcryptError

VERSION = 1
ALG_AES256GCM = 1
NONCE_LEN = 12
TAG_LEN = 16
KCV_LEN = 16
DEK_LEN = 32


def header(key_id: str, key_version: int) -> bytes:
    kid = key_id.encode()
    if not 1 <= len(kid) <= 255:
        raise ColcryptError("KC008", f"key id {key_id!r} must be 1 to 255 bytes")
    return bytes((VERSION, ALG_AES256GCM, len(kid))) + kid + struct.pack(">I", key_version)


def seal(dek: bytes, key_id: str, key_version: int, plaintext: bytes, context: str,
         nonce: bytes | None = None) -> bytes:
    """Encrypt plaintext into an envelope; nonce is random unless a test vector fixes it."""
    hdr = header(key_id, key_version)
    nonce = os.urandom(NONCE_LEN) if nonce is None else nonce
    return hdr + nonce + AESGCM(dek).encrypt(nonce, plaintext, hdr + context.encode())


def parse(envelope: bytes) -> tuple[str, int, int]:
    """Return (key_id, key_version, header length) of an envelope, or raise KC002/KC003."""
    if len(envelope) < 3:
        raise ColcryptError("KC002", "value is too short to be a colcrypt envelope")
    if envelope[0] != VERSION or envelope[1] != ALG_AES256GCM:
        raise ColcryptError("KC003", f"unknown envelope version {envelope[0]} / algorithm {envelope[1]}")
    kid_len = envelope[2]
    hdr_len = 3 + kid_len + 4
    if kid_len == 0 or len(envelope) < hdr_len + NONCE_LEN + TAG_LEN:
        raise ColcryptError("KC002", "colcrypt envelope is truncated")
    key_id = envelope[3:3 + kid_len].decode()
    (key_version,) = struct.unpack(">I", envelope[3 + kid_len:hdr_len])
    return key_id, key_version, hdr_len


def open_(dek: bytes, envelope: bytes, context: str) -> bytes:
    """Decrypt an envelope; raise KC001 when it does not authenticate."""
    from cryptography.exceptions import InvalidTag

    _, _, hdr_len = parse(envelope)
    nonce = envelope[hdr_len:hdr_len + NONCE_LEN]
    try:
        return AESGCM(dek).decrypt(nonce, envelope[hdr_len + NONCE_LEN:],
                                   envelope[:hdr_len] + context.encode())
    except InvalidTag:
        raise ColcryptError("KC001", f"value for context {context!r} failed authentication") from None


def key_check_value(dek: bytes, key_id: str, key_version: int) -> bytes:
    """First 16 bytes of HMAC-SHA256(dek, 'colcrypt-kcv-v1' 0x00 key_id 0x00 version)."""
    msg = b"colcrypt-kcv-v1\x00" + key_id.encode() + b"\x00" + struct.pack(">I", key_version)
    return hmac_new(dek, msg, sha256).digest()[:KCV_LEN]


def blind_index(dek: bytes, context: str, value: str) -> bytes:
    """First 16 bytes of HMAC-SHA256(HMAC-SHA256(dek, 'colcrypt-blind-index-v1'), context 0x00 value)."""
    bidx_key = hmac_new(dek, b"colcrypt-blind-index-v1", sha256).digest()
    return hmac_new(bidx_key, context.encode() + b"\x00" + value.encode(), sha256).digest()[:16]
