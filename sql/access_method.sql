-- The tables colcrypt serves are heap tables that seal their encrypted columns as rows are stored.
-- (sqlfluff's postgres dialect cannot parse CREATE ACCESS METHOD, hence the noqa.)
CREATE ACCESS METHOD colcrypt TYPE TABLE HANDLER colcrypt._table_am_handler; -- noqa: PRS

COMMENT ON ACCESS METHOD colcrypt IS -- noqa: PRS
'Heap, storing the encrypted columns of the tables in colcrypt.encrypted_columns as envelopes (their logical '
'columns NULL), after the row''s constraints are checked on its plaintext. Opening such a table loads the colcrypt '
'module, whose planner hook decrypts every read of a logical column.';
