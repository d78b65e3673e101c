-- security: INVOKER. It lowers the caller's rights to those of a table's owner for one statement (the C code
-- requires the caller to hold the owner's privileges already, so PUBLIC may execute it: it grants nothing),
-- in a security-restricted operation, as PostgreSQL's VACUUM and CREATE INDEX do.
CREATE OR REPLACE FUNCTION colcrypt._as_owner(p_relation oid, p_sql text)
RETURNS SETOF json
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_as_owner';

COMMENT ON FUNCTION colcrypt._as_owner(oid, text) IS
'Internal: runs one statement of a migration step as the owner of the relation p_relation, in a '
'security-restricted operation, and returns its rows as json; the caller must hold the owner''s privileges.';
