-- security: INVOKER. The C code runs a trigger function only for the owner of the relation of the row's
-- type who may execute the function: what that role could do by attaching the function as a trigger
-- of its own (the generated functions that call it run as the migrated table's owner).
-- search_path: not SET: it is on the write path of a migrated table's name and resolves no names.
CREATE OR REPLACE FUNCTION colcrypt.call_trigger(
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
