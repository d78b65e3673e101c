"""Attacks planted by roles a DBA does not trust, against the DBA's own steps: the table's owner (its
index names, triggers, CHECKs, defaults, index expressions and column names), and a role that can create
objects in a schema on the DBA's search_path (look-alike functions and operators in public). Each attack
tries to make its role a superuser and to read the KEK file; none may succeed, at any stage."""

import psycopg
import pytest

from tests.db.helpers import STAGES, column_context, raises_sqlstate, scalar, walk


def superuser(conn, role: str) -> bool:
    return scalar(conn, "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s", (role,))


def escalation(role: str, kek_file) -> str:
    """A PL/pgSQL function app.escalate(what) that logs who runs it, then tries to make role a superuser
    and to read the KEK file, quietly (so that the step it hides in goes on)."""
    return f"""
    CREATE TABLE app.seen (who name, what text, escalated boolean, read_kek boolean);
    GRANT INSERT ON app.seen TO PUBLIC;
    CREATE FUNCTION app.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $f$
    DECLARE
        v_escalated boolean := false;
        v_read boolean := false;
    BEGIN
        BEGIN
            EXECUTE 'ALTER ROLE "{role}" SUPERUSER';
            v_escalated := true;
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        BEGIN
            PERFORM pg_catalog.pg_read_binary_file('{kek_file}');
            v_read := true;
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        INSERT INTO app.seen VALUES (current_user, what, v_escalated, v_read);
        RETURN true;
    END $f$;
    """


HOSTILE_TABLE = """
CREATE FUNCTION app.in_index(a text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    PERFORM app.escalate('index expression');
    -- left behind for the DBA's next statement, with a look-alike = in front of pg_catalog's
    PERFORM pg_catalog.set_config('search_path', 'app, pg_catalog', false);
    RETURN a;
END $f$;
CREATE FUNCTION app.eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM app.escalate('a planted ='); RETURN a OPERATOR(pg_catalog.=) b; END $f$;
CREATE OPERATOR app.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = app.eq);
CREATE FUNCTION app.eq(a integer, b integer) RETURNS boolean LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM app.escalate('a planted ='); RETURN a OPERATOR(pg_catalog.=) b; END $f$;
CREATE OPERATOR app.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = app.eq);
CREATE FUNCTION app.in_check(n int) RETURNS boolean LANGUAGE plpgsql AS
    $f$ BEGIN RETURN app.escalate('check'); END $f$;
CREATE FUNCTION app.in_default() RETURNS int LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM app.escalate('default'); RETURN 7; END $f$;
CREATE FUNCTION app.in_trigger() RETURNS trigger LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM app.escalate('trigger ' || TG_TABLE_NAME); RETURN NEW; END $f$;
CREATE TABLE app.t (id int PRIMARY KEY, a text, ssn text, n int DEFAULT app.in_default() CHECK (app.in_check(n)));
CREATE INDEX ON app.t (app.in_index(a));
CREATE TRIGGER spy BEFORE INSERT OR UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.in_trigger();
INSERT INTO app.t (id, a, ssn) SELECT g, 'a' || g, 'ssn-' || g FROM generate_series(1, 20) AS g;
"""


def test_nothing_the_owner_controls_runs_with_the_dbas_rights(db, conn, roles):
    with roles.connect(roles.owner) as owner:
        owner.execute(escalation(roles.owner, db.kek_file) + HOSTILE_TABLE)
        owner.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON app.t TO "{roles.app}"')
    with roles.connect(roles.app) as app:
        def writes(stage: str) -> None:
            n = 100 + STAGES.index(stage)
            app.execute("INSERT INTO app.t (id, a, ssn) VALUES (%s, 'new', 'ssn-new')", (n,))
            app.execute("UPDATE app.t SET ssn = ssn || '!', a = a || '!' WHERE id IN (1, %s)", (n,))
            app.execute("DELETE FROM app.t WHERE id = %s", (20 - STAGES.index(stage),))
            assert app.execute("SELECT ssn FROM app.t WHERE id = %s", (n,)).fetchone() == ("ssn-new!",)
            assert not superuser(conn, roles.owner), stage

        walk(conn, "app.t", ["ssn"], writes)
    conn.execute("CALL colcrypt.reencrypt('app.t')")
    assert scalar(conn, "SELECT pg_catalog.current_setting('search_path')") == '"$user", public'  # nothing left
    seen = conn.execute("SELECT DISTINCT who::text, what FROM app.seen ORDER BY 1, 2").fetchall()
    assert {who for who, _ in seen} <= {roles.owner, roles.app}, seen  # never the DBA (postgres)
    assert {what for _, what in seen} >= {"index expression", "check", "default", "trigger t", "trigger t_encrypted"}
    assert scalar(conn, "SELECT count(*) FROM app.seen WHERE escalated OR read_kek") == 0
    assert not superuser(conn, roles.owner)


def test_the_owners_code_runs_as_the_owner_in_a_rollback_too(db, conn, roles):
    with roles.connect(roles.owner) as owner:
        owner.execute(escalation(roles.owner, db.kek_file) + HOSTILE_TABLE)
    walk(conn, "app.t", ["ssn"], lambda stage: None, until="finalized")
    with roles.connect(roles.owner) as owner:
        owner.execute("INSERT INTO app.t (id, a, ssn) VALUES (500, 'after finalize', 'x')")  # through the name
    conn.execute("SELECT FROM colcrypt.rollback('app.t')")  # brings it back into the plaintext table
    assert scalar(conn, "SELECT ssn FROM app.t WHERE id = 500") == "x"
    assert {r[0] for r in conn.execute("SELECT DISTINCT who::text FROM app.seen")} == {roles.owner}
    assert scalar(conn, "SELECT count(*) FROM app.seen WHERE escalated OR read_kek") == 0


def test_an_index_name_is_never_sql(conn, roles):
    """0.2.0 cut pg_get_indexdef at ' ON <table> USING ', which this name holds: the rest ran as SQL."""
    evil = f"x ON app.t USING btree(a);ALTER ROLE {roles.owner} SUPERUSER;--"  # the role's name needs no quotes
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.t (id int PRIMARY KEY, a text, b text, ssn text)")
        owner.execute(psycopg.sql.SQL("CREATE INDEX {} ON app.t (a)").format(psycopg.sql.Identifier(evil)))
        owner.execute("CREATE UNIQUE INDEX ON app.t (lower(b) text_pattern_ops DESC NULLS LAST, a COLLATE \"C\")"
                      " INCLUDE (id) WITH (fillfactor = 70) WHERE b IS NOT NULL")
    conn.execute("SELECT FROM colcrypt.prepare('app.t', ARRAY['ssn'], 'k')")
    assert not superuser(conn, roles.owner)
    indexes = [r[0] for r in conn.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index"
                                          " WHERE indrelid = 'app.t_encrypted'::regclass ORDER BY indexrelid")]
    assert indexes[1:] == [
        "CREATE INDEX t_encrypted_a_idx ON app.t_encrypted USING btree (a)",
        'CREATE UNIQUE INDEX t_encrypted_lower_a_id_idx ON app.t_encrypted USING btree (lower(b) text_pattern_ops'
        ' DESC NULLS LAST, a COLLATE "C") INCLUDE (id) WITH (fillfactor=\'70\') WHERE (b IS NOT NULL)']


def test_a_column_name_is_never_sql_even_without_body_checks(conn, roles):
    evil = f"x$colcrypt$;ALTER ROLE {roles.owner} SUPERUSER;--"
    with roles.connect(roles.owner) as owner:
        owner.execute(psycopg.sql.SQL("CREATE TABLE app.t (id int PRIMARY KEY, {} text, ssn text)").format(
            psycopg.sql.Identifier(evil)))
    conn.execute("SET check_function_bodies = off")  # as pg_restore has it
    conn.execute("SELECT FROM colcrypt.prepare('app.t', ARRAY['ssn'], 'k')")
    conn.execute("RESET check_function_bodies")
    assert not superuser(conn, roles.owner)
    conn.execute(psycopg.sql.SQL("INSERT INTO app.t (id, {}, ssn) VALUES (1, 'v', 's')").format(
        psycopg.sql.Identifier(evil)))
    assert scalar(conn, "SELECT count(*) FROM app.t_encrypted") == 1


def test_a_value_cannot_move_between_tables_whose_names_join_alike(conn, roles):
    """app."t"."x.c" and app."t.x"."c" had the same context in 0.2.0 (app.t.x.c#1)."""
    with roles.connect(roles.owner) as owner:
        owner.execute('CREATE TABLE app.t (id int PRIMARY KEY, "x.c" text);'
                      'CREATE TABLE app."t.x" (id int PRIMARY KEY, c text);'
                      "INSERT INTO app.t VALUES (1, 'of t'); INSERT INTO app.\"t.x\" VALUES (1, 'of t.x')")
    for table, column in (("app.t", "x.c"), ('app."t.x"', "c")):
        conn.execute("SELECT FROM colcrypt.prepare(%s, ARRAY[%s], 'k')", (table, column))
        conn.execute("CALL colcrypt.backfill(%s)", (table,))
    assert column_context(conn, "app.t", "x.c") != column_context(conn, 'app."t.x"', "c")
    conn.execute('UPDATE app."t.x_encrypted" AS d SET c_encrypted = s."x.c_encrypted" FROM app.t_encrypted AS s'
                 " WHERE d.id = s.id")  # the swap
    with raises_sqlstate("KC001"):
        conn.execute("SELECT colcrypt.decrypt_column(c_encrypted, %s || id::text) FROM app.\"t.x_encrypted\"",
                     (column_context(conn, 'app."t.x"', "c") + "#",))
    assert scalar(conn, "SELECT mismatched FROM colcrypt.validate('app.\"t.x\"')") == 1


# Look-alike functions and operators a role can plant in a schema on the DBA's search_path: each matches
# the argument types of a call colcrypt makes more exactly than pg_catalog's (which takes oid, "any" or
# anynonarray), so that an unqualified call outside a pinned search_path would reach it.
PLANTED = """
CREATE TABLE public.hits (who name, what text, query text);
GRANT INSERT ON public.hits TO PUBLIC;
CREATE FUNCTION public.hijack(what text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO public.hits VALUES (current_user, what, pg_catalog.current_query());
    BEGIN EXECUTE 'ALTER ROLE "{role}" SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
END $f$;
CREATE FUNCTION public.eq(a oid, b regclass) RETURNS boolean LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('=(oid,regclass)'); RETURN a = b::oid; END $f$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.eq);
CREATE FUNCTION public.eq(a regclass, b oid) RETURNS boolean LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('=(regclass,oid)'); RETURN a::oid = b; END $f$;
CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = oid, FUNCTION = public.eq);
CREATE FUNCTION public.cat(a text, b integer) RETURNS text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('||(text,integer)'); RETURN a || b::text; END $f$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = public.cat);
CREATE FUNCTION public.cat(a text, b bigint) RETURNS text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('||(text,bigint)'); RETURN a || b::text; END $f$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = bigint, FUNCTION = public.cat);
CREATE FUNCTION public.format(f text, a text) RETURNS text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('format(text,text)'); RETURN pg_catalog.format(f, a); END $f$;
CREATE FUNCTION public.format(f text, a text, b text) RETURNS text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('format(text,text,text)'); RETURN pg_catalog.format(f, a, b); END $f$;
CREATE FUNCTION public.format(f text, a regclass) RETURNS text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('format(text,regclass)'); RETURN pg_catalog.format(f, a); END $f$;
CREATE FUNCTION public.concat(a text, b text) RETURNS text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('concat(text,text)'); RETURN pg_catalog.concat(a, b); END $f$;
CREATE FUNCTION public.jsonb_build_object(a text, b text) RETURNS jsonb LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('jsonb_build_object'); RETURN pg_catalog.jsonb_build_object(a, b); END $f$;
CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $f$;
CREATE FUNCTION public.array_position(a text[], b text) RETURNS integer LANGUAGE plpgsql AS
    $f$ BEGIN PERFORM public.hijack('array_position'); RETURN pg_catalog.array_position(a, b); END $f$;
"""


@pytest.fixture
def planted(db, conn):
    """A role that owns the schema public (so it is on every default search_path) and has planted there."""
    role = f"{db.name}_mal"
    conn.execute(f'CREATE ROLE "{role}" LOGIN')
    conn.execute(f'ALTER SCHEMA public OWNER TO "{role}"')
    with psycopg.connect(db.cluster.dsn(db.name, user=role), autocommit=True) as mal:
        mal.execute(PLANTED.format(role=role))
    yield role
    conn.execute("SET colcrypt.allow_ddl = on")
    conn.execute("ALTER SCHEMA public OWNER TO pg_database_owner")
    conn.execute(f'DROP OWNED BY "{role}" CASCADE')
    conn.execute(f'DROP ROLE "{role}"')


def test_no_planted_function_or_operator_is_reached_by_a_dba_step(db, conn, roles, planted):
    assert scalar(conn, "SELECT pg_catalog.current_setting('search_path')") == '"$user", public'
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.t (id bigint PRIMARY KEY, ssn text, n int);"
                      "CREATE TABLE app.u (id int PRIMARY KEY, ssn text);"
                      "INSERT INTO app.t SELECT g, 'ssn-' || g::text, g FROM generate_series(1, 50) AS g;"
                      "INSERT INTO app.u VALUES (1, 'x')")
        owner.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON app.t TO "{roles.app}"')
    steps = []

    def at(stage: str) -> None:
        steps.append(stage)
        conn.execute("SELECT * FROM colcrypt.progress")
        if stage != "cleaned":
            conn.execute("SELECT * FROM colcrypt.plaintext_residue('app.t')")
        with roles.connect(roles.app) as app:  # the application's writes through the name
            app.execute("INSERT INTO app.t VALUES (%s, 'new', 1)", (1000 + len(steps),))
            app.execute("UPDATE app.t SET ssn = 'changed' WHERE id = 2")
        with roles.connect(roles.owner) as owner:  # the owner's DDL fires the guard
            owner.execute(f"ALTER TABLE app.u ADD COLUMN c{len(steps)} int")
            if stage != "cleaned":
                with raises_sqlstate("KC020"):
                    owner.execute("ALTER TABLE app.t_encrypted ADD COLUMN refused int")
        assert not superuser(conn, planted), stage

    walk(conn, "app.t", ["ssn"], at)
    conn.execute("SELECT FROM colcrypt.prepare('app.u', ARRAY['ssn'], 'k')")
    conn.execute("SELECT colcrypt.pause('app.u', 'test'), colcrypt.resume('app.u')")
    conn.execute("CALL colcrypt.backfill('app.u')")
    conn.execute("SELECT FROM colcrypt.validate('app.u', 10)")
    conn.execute("SELECT FROM colcrypt.preflight('app.u')")
    conn.execute("SELECT FROM colcrypt.rollback('app.u')")
    conn.execute("CALL colcrypt.reencrypt('app.t')")
    conn.execute("SELECT colcrypt.grant_key('k', %s), colcrypt.revoke_key('k', %s)", (planted, planted))
    conn.execute("SELECT FROM colcrypt.key_usage('k')")
    conn.execute("SELECT FROM colcrypt.verify_audit()")
    conn.execute("SELECT FROM colcrypt.discover(ARRAY['app'])")
    assert steps == list(STAGES)
    assert conn.execute("SELECT DISTINCT what, query FROM public.hits").fetchall() == []
    assert not superuser(conn, planted)


def test_a_trigger_name_that_holds_sql_is_refused_at_the_write_cutover(conn, roles):
    """The WHEN condition of a trigger that moves to the shadow is taken from the server's rendering of its
    definition, which holds the trigger's name: a name that holds the text around the condition is refused."""
    evil = " FOR EACH ROW WHEN (true)EXECUTE FUNCTION app.f();SELECT app.g()--"
    with roles.connect(roles.owner) as owner:
        owner.execute("CREATE TABLE app.t (id int PRIMARY KEY, n int, ssn text); INSERT INTO app.t VALUES (1, 1, 'x');"
                      "CREATE TABLE app.ran (what text); GRANT INSERT ON app.ran TO PUBLIC;"
                      "CREATE FUNCTION app.f() RETURNS trigger LANGUAGE plpgsql AS"
                      " $f$ BEGIN NEW.n := NEW.n + 1; RETURN NEW; END $f$;"
                      "CREATE FUNCTION app.g() RETURNS void LANGUAGE sql AS $f$ INSERT INTO app.ran VALUES ('g') $f$;"
                      "CREATE TRIGGER fine BEFORE UPDATE ON app.t FOR EACH ROW WHEN (NEW.n IS DISTINCT FROM OLD.n)"
                      " EXECUTE FUNCTION app.f()")
        owner.execute(psycopg.sql.SQL("CREATE TRIGGER {} BEFORE INSERT ON app.t FOR EACH ROW WHEN (NEW.n > 0)"
                                      " EXECUTE FUNCTION app.f()").format(psycopg.sql.Identifier(evil[:63])))
    walk(conn, "app.t", ["ssn"], lambda stage: None, until="cutover_reads")
    with raises_sqlstate("KC024", "hold the text that surrounds its WHEN condition"):
        conn.execute("SELECT FROM colcrypt.cutover('app.t', 'writes')")
    assert scalar(conn, "SELECT count(*) FROM app.ran") == 0 and not superuser(conn, roles.owner)
    with roles.connect(roles.owner) as owner:  # renamed (the table keeps its name until the write cutover), it moves
        owner.execute("SET colcrypt.allow_ddl = on")
        owner.execute(psycopg.sql.SQL("ALTER TRIGGER {} ON app.t RENAME TO plain").format(
            psycopg.sql.Identifier(evil[:63])))
    conn.execute("SELECT FROM colcrypt.cutover('app.t', 'writes')")
    defs = [r[0] for r in conn.execute("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid ="
                                       " 'app.t_encrypted'::regclass ORDER BY tgname")]
    assert defs == ["CREATE TRIGGER fine BEFORE UPDATE ON app.t_encrypted FOR EACH ROW WHEN ((new.n IS DISTINCT FROM"
                    " old.n)) EXECUTE FUNCTION app.f()",
                    "CREATE TRIGGER plain BEFORE INSERT ON app.t_encrypted FOR EACH ROW WHEN ((new.n > 0)) EXECUTE"
                    " FUNCTION app.f()"]
    conn.execute("UPDATE app.t SET n = 5 WHERE id = 1")
    assert scalar(conn, "SELECT n FROM app.t WHERE id = 1") == 6  # the moved trigger fired, with its condition


def test_generated_sql_runs_only_as_one_statement(conn):
    assert conn.execute("SELECT colcrypt._statement_count('SELECT 1'), colcrypt._statement_count('SELECT 1; SELECT 2'),"
                        " colcrypt._statement_count($x$CREATE FUNCTION f() RETURNS int AS 'SELECT 1; SELECT 2'"
                        " LANGUAGE sql$x$)").fetchone() == (1, 2, 1)


def test_as_owner_runs_one_statement_only(conn, roles):
    """The shared switch to the owner's rights refuses a text of two statements itself, whatever its caller checked."""
    conn.execute(f'CREATE TABLE app.t (id int PRIMARY KEY); ALTER TABLE app.t OWNER TO "{roles.owner}"')
    with raises_sqlstate("KC028", "2 statements"):
        conn.execute("SELECT * FROM colcrypt._as_owner('app.t'::regclass, 'SELECT 1; DROP TABLE app.t')")
    assert scalar(conn, "SELECT to_regclass('app.t') IS NOT NULL")
    assert conn.execute("SELECT r::text FROM colcrypt._as_owner('app.t'::regclass, 'SELECT current_user AS u') AS r"
                        ).fetchone()[0] == f'{{"u":"{roles.owner}"}}'
