-- Comments of 0.1.0's functions that 0.2.0 changed: keyring changes now reach running sessions.
COMMENT ON FUNCTION colcrypt.destroy_key(text, integer) IS
'Crypto-shredding: destroys every version of p_key_id (or only p_version) — the wrapped data key is erased '
'from the keyring, so no KEK can recover it, and values encrypted under it can never be decrypted again (KC007). '
'Backends that hold the key drop it at their next use of it (colcrypt._keyring_changed); this session forgets '
'its keys at once. Irreversible: backups of the keyring taken before still hold the wrapped key. '
'Returns the number of versions destroyed.';

COMMENT ON FUNCTION colcrypt.revoke_key(text, text) IS
'Removes the grant of key p_key_id to p_role; returns whether there was one. '
'Sessions of p_role that hold the key unwrapped server-side lose it at their next use of it.';
