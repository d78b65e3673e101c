COMMENT ON EVENT TRIGGER colcrypt_guard_alter IS
'colcrypt: refuses the ALTER TABLE (or VIEW) that would break a live migration of the table, its shadow table or '
'its name (see colcrypt._guard_ddl).';
