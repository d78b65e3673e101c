-- security: INVOKER. It clears the caller's own backend.
CREATE OR REPLACE FUNCTION colcrypt.forget_keys()
RETURNS integer
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_forget_keys';

COMMENT ON FUNCTION colcrypt.forget_keys() IS
'Drops every data key cached in this backend (for all roles) and the session key pair; returns how many keys were dropped.';
