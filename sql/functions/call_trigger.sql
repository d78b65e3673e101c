-- security: INVOKER. EXECUTE is revoked from PUBLIC (security.sql) and the C code requires a
-- superuser, as the generated SECURITY DEFINER functions that call it are (a trigger function called
-- with a forged row could write what its table's trigger would).
-- search_path: not SET: it is on the write path of a migrated table's name and resolves no names.
CREATE FUNCTION colcrypt.call_trigger(
    p_function regprocedure,
    p_name text,
    p_args text[],
    p_timing text,
    p_op text,
    p_new anyelement,
    p_old anyelement
)
RETURNS anyelement
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS 'MODULE_PATHNAME', 'colcrypt_call_trigger';

COMMENT ON FUNCTION colcrypt.call_trigger(regprocedure, text, text[], text, text, anyelement, anyelement) IS
'Runs a row trigger function of a migrated table (one that reads or writes its encrypted columns) on a row '
'written through the table''s name after the write cutover, with the trigger data PostgreSQL would give it: '
'BEFORE returns the row to write (NULL: skip it). Called by the generated functions only.';
