-- security: DEFINER. Every role's ALTER TABLE and DROP TABLE fires it, and it reads colcrypt.migrations, which
-- only colcrypt's steps may read; it runs nothing but its own catalog queries (search_path pinned, operators
-- qualified), so that no object another role can create is ever resolved in it.
CREATE OR REPLACE FUNCTION colcrypt._guard_ddl()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table text;
    v_change text;
BEGIN
    IF pg_catalog.current_setting('colcrypt.allow_ddl', TRUE) OPERATOR(pg_catalog.=) 'on'
       OR NOT EXISTS (SELECT FROM colcrypt.migrations AS m
                      WHERE m.state OPERATOR(pg_catalog.<>) ALL (ARRAY['cleaned', 'rolled_back'])) THEN
        RETURN;
    END IF;
    IF TG_EVENT OPERATOR(pg_catalog.=) 'sql_drop' THEN
        SELECT m.table_name, pg_catalog.format('DROP of %s', d.object_identity) INTO v_table, v_change
        FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
        JOIN colcrypt.migrations AS m
            ON d.objid OPERATOR(pg_catalog.=) ANY (ARRAY[m.source::pg_catalog.oid, m.shadow::pg_catalog.oid,
                                                         m.name_view::pg_catalog.oid])
        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.objsubid OPERATOR(pg_catalog.=) 0
          AND m.state OPERATOR(pg_catalog.<>) ALL (ARRAY['cleaned', 'rolled_back'])
        LIMIT 1;
    ELSE
        SELECT m.table_name, pg_catalog.format('%s (%s)', r.refusal, c.object_identity)
        INTO v_table, v_change
        FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
        CROSS JOIN LATERAL (SELECT colcrypt._ddl_refusal(c.command) AS refusal) AS r
        JOIN colcrypt.migrations AS m
            ON c.objid OPERATOR(pg_catalog.=) ANY (ARRAY[m.source::pg_catalog.oid, m.shadow::pg_catalog.oid,
                                                         m.name_view::pg_catalog.oid])
        WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
          AND m.state OPERATOR(pg_catalog.<>) ALL (ARRAY['cleaned', 'rolled_back'])
          AND r.refusal IS NOT NULL
          -- finalize disables colcrypt's triggers on the plaintext table (a restore disables them again)
          AND NOT (r.refusal OPERATOR(pg_catalog.=) 'DISABLE TRIGGER (of colcrypt)'
                   AND m.state OPERATOR(pg_catalog.=) 'finalized')
        LIMIT 1;
    END IF;
    IF v_table IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'KC020',
            MESSAGE = pg_catalog.format('colcrypt: %s is being migrated, so %s is refused', v_table, v_change),
            HINT = 'It would break the dual-write triggers and with them the application''s writes (adding '
                   'constraints and indexes, changing the owner, statistics or options is fine). Finish or roll '
                   'back the migration first (colcrypt.rollback), or SET LOCAL colcrypt.allow_ddl = on if you '
                   'know what the triggers need.';
    END IF;
END
$$;

COMMENT ON FUNCTION colcrypt._guard_ddl() IS
'Event trigger function: refuses what would break a live migration on the table being migrated, its shadow table '
'or the view that holds its name after cutover (DROP, and ALTER that changes columns, names, schema, identity, '
'partitions, inheritance or colcrypt''s triggers: colcrypt._ddl_refusal), unless colcrypt.allow_ddl is on for '
'the transaction. Constraints, indexes, owners, statistics and options may change.';
