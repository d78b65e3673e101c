"""The SQL a migration generates: every identifier quoted, every literal escaped, shapes right."""

from colcrypt.migrate.sqlgen import (
    Column,
    Plan,
    backfill_batch,
    column_context,
    context_prefix,
    create_shadow,
    dollar_quoted,
    ident,
    key_text,
    literal,
    trigger_function,
    upper_key,
    validation,
)

EVIL = 'Robert"); DROP TABLE x; --'
PLAN = Plan("Legacy CRM", EVIL, (Column("Region", "text", True), Column("id", "integer", True),
                                 Column("Card No", "character varying(19)"), Column("note", "text")),
            sensitive=("Card No",), key_columns=("Region", "id"), key_id="crm-pii",
            context_prefix=context_prefix("Legacy CRM", EVIL))


def test_quoting():
    assert ident('a"b') == '"a""b"'
    assert literal("it's") == "'it''s'"
    assert literal("a\\b") == "E'a\\\\b'"  # the same meaning whatever standard_conforming_strings says


def test_names_are_always_quoted():
    shadow = create_shadow(PLAN)
    assert shadow.startswith('CREATE TABLE "Legacy CRM"."Robert""); DROP TABLE x; --_encrypted" (')
    assert '"Card No_encrypted" bytea' in shadow and '"Region" text NOT NULL' in shadow
    assert 'PRIMARY KEY ("Region", "id")' in shadow and shadow.endswith(" USING colcrypt")
    # the table's columns in their order (the encrypted one as its logical column), then the envelopes
    names = [line.split('" ')[0] + '"' for line in shadow.splitlines()[1:] if line.startswith('    "')]
    assert names[:4] == ['    "Region"', '    "id"', '    "Card No"', '    "note"']
    assert names[4] == '    "Card No_encrypted"'
    assert create_shadow(PLAN, table_am=False).count('"Card No"') == 0
    for sql in (trigger_function(PLAN, "colcrypt.f"), backfill_batch(PLAN, True), validation(PLAN, True),
                upper_key(PLAN)):
        assert EVIL not in sql.replace(ident(EVIL), "").replace(literal(PLAN.column_context("Card No") + "#"), "")


def test_shadow_columns_keep_the_order():
    assert PLAN.shadow_columns() == ["Region", "id", "Card No_encrypted", "note", "encryption_key_id",
                                     "encryption_algorithm", "encrypted_at", "migration_status"]


def test_row_key_in_the_context():
    assert key_text(PLAN, "NEW") == 'ROW(NEW."Region", NEW."id")::text'
    single = Plan("s", "t", (Column("id", "bigint"),), (), ("id",), "k", "s.t")
    assert key_text(single, "b") == '(b."id")::text'


def test_the_batch_locks_its_rows_and_skips_what_the_triggers_wrote():
    sql = backfill_batch(PLAN, with_lower=True)
    assert "FOR KEY SHARE" in sql and "NOT EXISTS" in sql and "ON CONFLICT" not in sql
    assert ('WHERE ("Region", "id") > (($1[1])::text, ($1[2])::integer)'
            ' AND ("Region", "id") <= (($2[1])::text, ($2[2])::integer)') in sql
    assert 'ORDER BY "Region", "id" LIMIT $3' in sql
    # one probe of the shadow over the batch's key span, then a per-row check only if it found rows
    assert ('_encrypted" AS s WHERE (s."Region", s."id") > (($1[1])::text, ($1[2])::integer)'
            ' AND (s."Region", s."id") <= ((SELECT l."Region" FROM last AS l), (SELECT l."id" FROM last AS l)))'
            '\n       OR NOT EXISTS (SELECT FROM') in sql
    assert 'WHERE ("Region", "id") <= (($2[1])::text' in backfill_batch(PLAN, with_lower=False)


def test_no_two_columns_of_two_tables_share_a_context():
    """s."t"."x.c" and s."t.x"."c" met in version 1 (a value could be moved between them); not any more."""
    assert column_context("s.t", 1, "x.c") == column_context("s.t.x", 1, "c")
    assert column_context(context_prefix("s", "t"), 2, "x.c") == '"s"."t"."x.c"'
    assert column_context(context_prefix("s", "t.x"), 2, "c") == '"s"."t.x"."c"'
    assert column_context(context_prefix('a"', "b"), 2, "c") != column_context(context_prefix("a", '"b'), 2, "c")


def test_a_function_body_is_quoted_with_a_tag_it_does_not_contain():
    body = "BEGIN PERFORM 'x$colcrypt$y'; PERFORM 'z$colcrypt1$'; END"
    quoted = dollar_quoted(body)
    assert quoted.startswith("$colcrypt2$\n") and quoted.endswith("\n$colcrypt2$")
    evil = Plan("s", "t", (Column("id", "integer", True), Column("a$colcrypt$;ALTER ROLE x SUPERUSER;--", "text")),
                ("a$colcrypt$;ALTER ROLE x SUPERUSER;--",), ("id",), "k", context_prefix("s", "t"))
    sql = trigger_function(evil, "colcrypt.f")
    tag = sql.split("AS ", 1)[1].split("\n", 1)[0]
    assert tag != "$colcrypt$" and sql.count(tag) == 2 and sql.endswith(tag)
