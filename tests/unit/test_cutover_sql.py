"""The generated SQL of the read cutover: the view and the INSTEAD OF trigger, for awkward shapes."""

from colcrypt.migrate.cutover_sql import (
    create_view,
    instead_of_function,
    own_identity,
    plaintext_plan,
)
from colcrypt.migrate.sqlgen import Column, Plan
from colcrypt.migrate.writes_sql import mirror_function, writes_function

PLAN = Plan("Shop", 'Or"ders', (Column("Region", "text", True), Column("id", "integer", True, identity="a"),
                                Column("Card No", "character varying(19)"), Column("total", "numeric", generated=True)),
            sensitive=("Card No",), key_columns=("Region", "id"), key_id="k", context_prefix='"Shop"."Or""ders"')


def test_the_view_keeps_names_order_and_types():
    sql = create_view(PLAN)
    assert sql.startswith('CREATE VIEW "Shop"."Or""ders" AS\nSELECT e."Region",\n       e."id",\n')
    assert ('(colcrypt.decrypt_column(e."Card No_encrypted", \'"Shop"."Or""ders"."Card No"#\''
            ' || ROW(e."Region", e."id")::text))::character varying(19) AS "Card No"') in sql
    assert sql.endswith('FROM "Shop"."Or""ders_encrypted" AS e')


def test_writes_go_to_the_renamed_table_and_never_set_generated_or_always_identity_columns():
    plain = plaintext_plan(PLAN)
    assert (plain.source, plain.shadow) == ('"Shop"."Or""ders_plaintext"', '"Shop"."Or""ders_encrypted"')
    sql = instead_of_function(plain, "colcrypt.instead_1", 'Shop."Or""ders"')
    assert own_identity(PLAN) == "id"
    assert ('IF NEW."id" IS NULL THEN\n            INSERT INTO "Shop"."Or""ders_plaintext" AS t ("Region", "Card No")'
            in sql)
    assert "ELSE\n            RAISE EXCEPTION USING ERRCODE = 'generated_always'" in sql  # ALWAYS: never given
    assert "OVERRIDING" not in sql and '"total" =' not in sql and '"id" = NEW' not in sql
    assert 'SET "Region" = NEW."Region", "Card No" = NEW."Card No"' in sql
    assert ('WHERE t."Region" = OLD."Region" AND t."id" = OLD."id" AND ROW(t."Region", t."id", t."Card No", t."total")'
            '::text IS NOT DISTINCT FROM ROW(OLD."Region", OLD."id", OLD."Card No", OLD."total")::text') in sql
    assert "ERRCODE = 'serialization_failure'" in sql and "SECURITY DEFINER" in sql


def test_a_one_column_key_has_its_context_built_in_c():
    single = Plan("s", "t", (Column("id", "bigint", True), Column("ssn", "text")), ("ssn",), ("id",), "k", "s.t")
    expected = '(colcrypt.decrypt_column(e."ssn_encrypted", \'s.t."ssn"#\', e."id"))::text AS "ssn"'
    assert expected in create_view(single)


def test_the_write_stage_writes_the_shadow_first_then_the_table():
    plain = plaintext_plan(Plan("s", "t", (Column("id", "integer", True, identity="a"), Column("ssn", "text"),
                                           Column("n", "int")), ("ssn",), ("id",), "k", "s.t"))
    sql = writes_function(plain, "colcrypt.instead_1", "s.t", reverse_tag="colcrypt.dual_write_1",
                          identity_seq="s.t_id_seq")
    assert """NEW."id" := nextval('s.t_id_seq'::regclass)""" in sql
    shadow_insert = sql.index('INSERT INTO "s"."t_encrypted" AS s ("id", "ssn_encrypted", "n", "encryption_key_id"')
    assert shadow_insert < sql.index('INSERT INTO "s"."t_plaintext" ("id", "ssn", "n") OVERRIDING SYSTEM VALUE')
    assert 'RETURNING s."id", s."n" INTO NEW."id", NEW."n"' in sql  # what the moved triggers changed
    assert 'UPDATE "s"."t_plaintext" AS t SET ("ssn", "n") = ROW(NEW."ssn", NEW."n")' in sql  # never the identity
    assert "'written'" in sql and "ERRCODE = 'serialization_failure'" in sql
    # the reverse write is marked with the depth its mirror trigger fires at, then unmarked
    mark = "set_config('colcrypt.reverse_write', (pg_trigger_depth() + 1)::text || 'colcrypt.dual_write_1', true)"
    assert sql.count(mark) == 3 and sql.count("set_config('colcrypt.reverse_write', '', true)") == 3
    assert sql.index(mark) < sql.index('INSERT INTO "s"."t_plaintext"')


def test_finalized_writes_reach_the_shadow_only_and_check_encrypted_columns():
    plain = plaintext_plan(Plan("s", "t", (Column("id", "integer", True), Column("ssn", "text", True),
                                           Column("n", "int")), ("ssn",), ("id",), "k", "s.t"))
    sql = writes_function(plain, "colcrypt.instead_1", "s.t", reverse_tag=None, identity_seq=None,
                          checks=[("ssn_len", "(length(ssn) = 11)")], required=["ssn"])
    assert "t_plaintext" not in sql and "reverse_write" not in sql and "'final'" in sql
    assert "IF TG_OP <> 'DELETE' THEN" in sql  # a DELETE has no NEW row to check
    assert 'IF NEW."ssn" IS NULL THEN' in sql and "ERRCODE = 'not_null_violation'" in sql
    assert "WHERE NOT ((length(ssn) = 11))" in sql and "CONSTRAINT = 'ssn_len'" in sql


def test_the_mirror_trigger_skips_only_the_marked_reverse_write():
    plain = plaintext_plan(Plan("s", "t", (Column("id", "integer", True), Column("ssn", "text")), ("ssn",),
                                ("id",), "k", "s.t"))
    sql = mirror_function(plain, "colcrypt.dual_write_1")
    assert ("current_setting('colcrypt.reverse_write', true) = pg_trigger_depth()::text || 'colcrypt.dual_write_1'"
            in sql)
    assert 'UPDATE "s"."t_encrypted" AS s SET' in sql and 'WHERE s."id" = OLD."id"' in sql
    assert "ON CONFLICT" not in sql  # an upsert would fire the shadow's INSERT triggers on an update


def test_keys_whose_text_form_differs_from_their_output_keep_the_cast():
    for key_type in ("character(4)", "inet", "boolean"):
        plan = Plan("s", "t", (Column("k", key_type, True), Column("ssn", "text")), ("ssn",), ("k",), "k", "s.t")
        assert "|| (e.\"k\")::text" in create_view(plan), key_type
