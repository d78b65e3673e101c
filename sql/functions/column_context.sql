-- security: DEFINER. It reads colcrypt.migrations, which only colcrypt's steps may read, to tell anyone who
-- looks rows up by a blind index (an application role) the context of a migrated column; a context is not
-- secret. search_path pinned; it resolves nothing the caller gives it but a regclass.
CREATE OR REPLACE FUNCTION colcrypt.column_context(p_table regclass, p_column text)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE m.context_version
        WHEN 1 THEN m.context_prefix || '.' || p_column
        ELSE m.context_prefix || '."' || pg_catalog.replace(p_column, '"', '""') || '"'  -- always quoted
    END
    FROM colcrypt.migrations AS m
    WHERE (m.source = p_table OR m.name_view = p_table) AND m.state <> 'rolled_back'
      AND p_column = ANY(m.columns)
    ORDER BY m.migration_id DESC
    LIMIT 1
$$;

COMMENT ON FUNCTION colcrypt.column_context(regclass, text) IS
'The context of column p_column of the migrated table p_table (its name, before or after the cutover): what '
'colcrypt.blind_index takes for equality lookups on a blind index, e.g. WHERE email_bidx = '
'colcrypt.blind_index($1, key, colcrypt.column_context(''crm.customers'', ''email'')); a value''s context adds '
'''#'' and the row''s key. NULL when the column is not migrated.';
