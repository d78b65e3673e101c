-- colcrypt: online migration of plaintext columns to AES-256-GCM column encryption.
-- Built from sql/ by `make build`; do not edit extension/colcrypt--*.sql by hand.

COMMENT ON SCHEMA colcrypt IS
'colcrypt: AES-256-GCM column encryption with envelope keys held in a KMS or HSM, '
'and the online migration of plaintext columns to it. See docs/ in the colcrypt sources.';
