-- security: INVOKER. It only reads colcrypt.migrations (readable by the DDL's author, a table owner).
-- search_path: not SET, so that it adds nothing to every DDL statement of the database; every name
-- is schema-qualified.
CREATE FUNCTION colcrypt._guard_ddl()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY INVOKER
AS $$
DECLARE
    v_table text;
BEGIN
    IF pg_catalog.current_setting('colcrypt.allow_ddl', TRUE) = 'on' THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        SELECT m.table_name INTO v_table
        FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
        JOIN colcrypt.migrations AS m ON d.objid IN (m.source, m.shadow, m.name_view)
        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
          AND m.state NOT IN ('cleaned', 'rolled_back')
        LIMIT 1;
    ELSE
        SELECT m.table_name INTO v_table
        FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
        JOIN colcrypt.migrations AS m ON c.objid IN (m.source, m.shadow, m.name_view)
        WHERE c.command_tag IN ('ALTER TABLE', 'ALTER VIEW') AND m.state NOT IN ('cleaned', 'rolled_back')
        LIMIT 1;
    END IF;
    IF v_table IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC020',
            MESSAGE = pg_catalog.format('colcrypt: %s is being migrated, so %s of it or of its shadow table is refused',
                                        v_table, TG_TAG),
            HINT = 'A changed shape would break the dual-write triggers and with them the application''s writes. '
                   'Finish or roll back the migration first (colcrypt.rollback), or SET LOCAL colcrypt.allow_ddl = on '
                   'if you know what the triggers need.';
    END IF;
END
$$;

COMMENT ON FUNCTION colcrypt._guard_ddl() IS
'Event trigger function: refuses ALTER TABLE (or VIEW) and DROP of a table being migrated, of its shadow table '
'and of the view that holds its name after cutover, '
'unless colcrypt.allow_ddl is on for the transaction.';
