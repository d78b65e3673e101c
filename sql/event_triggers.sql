-- DDL that would break a live migration's triggers is refused (colcrypt._guard_ddl says what).
-- (sqlfluff's postgres dialect cannot parse CREATE EVENT TRIGGER, hence the noqa.)
CREATE EVENT TRIGGER colcrypt_guard_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW') EXECUTE FUNCTION colcrypt._guard_ddl(); -- noqa: PRS

CREATE EVENT TRIGGER colcrypt_guard_drop ON sql_drop WHEN TAG IN ('DROP TABLE', 'DROP VIEW', 'DROP SCHEMA', 'DROP OWNED') EXECUTE FUNCTION colcrypt._guard_ddl(); -- noqa: PRS

COMMENT ON EVENT TRIGGER colcrypt_guard_alter IS
'colcrypt: refuses the ALTER TABLE (or VIEW) that would break a live migration of the table, its shadow table or '
'its name (see colcrypt._guard_ddl).';
COMMENT ON EVENT TRIGGER colcrypt_guard_drop IS
'colcrypt: refuses dropping a table being migrated or its shadow table (see colcrypt._guard_ddl).';
