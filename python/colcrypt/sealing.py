"""Sealing a data key to one backend's session key (colcrypt.session_public_key / load_key).

sealed = client_public(32) || nonce(12) || AES-256-GCM(w, nonce, dek, aad) (48 bytes), where
w = HKDF-SHA256(X25519(client, server), salt = client_public || server_public,
info = 'colcrypt-session-v1') and aad = 'colcrypt-session-v1' 0x00 key_id 0x00 version(4, BE).
"""

import os
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = b"colcrypt-session-v1"


def seal_for_session(server_public: bytes, key_id: str, version: int, dek: bytes) -> bytes:
    client = X25519PrivateKey.generate()
    client_public = client.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    secret = client.exchange(X25519PublicKey.from_public_bytes(server_public))
    wrapping = HKDF(hashes.SHA256(), 32, client_public + server_public, LABEL).derive(secret)
    nonce = os.urandom(12)
    aad = LABEL + b"\x00" + key_id.encode() + b"\x00" + struct.pack(">I", version)
    return client_public + nonce + AESGCM(wrapping).encrypt(nonce, dek, aad)
