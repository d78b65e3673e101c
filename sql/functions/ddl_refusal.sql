-- security: INVOKER. It only reads the command it is given.
CREATE OR REPLACE FUNCTION colcrypt._ddl_refusal(p_command pg_ddl_command)
RETURNS text
LANGUAGE c STABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'colcrypt_ddl_refusal';

COMMENT ON FUNCTION colcrypt._ddl_refusal(pg_ddl_command) IS
'Internal: NULL, or the part of a collected ALTER TABLE (or VIEW) command that would break a migration of the '
'relation it changes (columns, names, schema, identity, partitions, inheritance, colcrypt''s triggers).';
