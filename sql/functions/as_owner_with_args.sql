-- security: INVOKER. colcrypt._as_owner with parameters (see as_owner.sql).
CREATE OR REPLACE FUNCTION colcrypt._as_owner(p_relation oid, p_sql text, VARIADIC p_args "any")
RETURNS SETOF json
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_as_owner';

COMMENT ON FUNCTION colcrypt._as_owner(oid, text, "any") IS
'Internal: colcrypt._as_owner(p_relation, p_sql) with the statement''s parameters $1, $2, ... after them.';
