"""Catalog checks of the installed extension: comments, search_path, privileges."""

from pathlib import Path

from tests.db.helpers import scalar

MEMBERS = """
    SELECT d.classid::regclass::text AS kind, d.objid,
           pg_describe_object(d.classid, d.objid, 0) AS object
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE e.extname = 'colcrypt' AND d.deptype = 'e'
"""

# The two hot-path C functions pin search_path in C on their slow path (see their sql/ files).
HOT_PATH = {"colcrypt.encrypt_column(text,text,text)", "colcrypt.decrypt_column(bytea,text)",
            "colcrypt.decrypt_column(bytea,text,anyelement)",
            "colcrypt.verify_column(bytea,text,text)", "colcrypt.blind_index(text,text,text)",
            "colcrypt.call_trigger(regprocedure,text,text[],text,text,anyelement,anyelement)"}
# C functions the server calls (a trigger that only sends invalidations, the access method's handler and
# its trigger form): they resolve no names; sealing pins search_path on its slow path as the hot path does.
SERVER_CALLED = {"colcrypt._encrypted_columns_changed()", "colcrypt._table_am_handler(internal)",
                 "colcrypt.encrypt_row()"}
COMMITS = {"colcrypt.backfill(text,integer,interval,interval,integer,integer,interval,interval)",
           "colcrypt.reencrypt(text,integer,interval,interval)"}  # no SET allowed
# These resolve p_table with the caller's search_path, then pin it themselves.
# The event trigger's function reads colcrypt.migrations for every role's DDL (it resolves nothing a role can
# create; event triggers need no EXECUTE); key administration runs for members of colcrypt_key_admin.
KEY_ADMIN = {"colcrypt.add_key(text,integer,text,text,bytea,bytea)", "colcrypt.grant_key(text,text)",
             "colcrypt.revoke_key(text,text)", "colcrypt.rewrap_key(text,integer,text,text,bytea,bytea)",
             "colcrypt.rotate_key(text,integer,text,text,bytea,bytea)", "colcrypt.destroy_key(text,integer)"}
# column_context tells anyone the (not secret) context of a migrated column, for blind-index lookups.
EXTENSION_DEFINERS = {"colcrypt._guard_ddl()", "colcrypt.column_context(regclass,text)"} | KEY_ADMIN
CALLER_NAMES = {"colcrypt.prepare(text,text[],text,text[])", "colcrypt.pause(text,text)",
                "colcrypt.schedule_backfill(text,integer,integer,interval)", "colcrypt.resume(text)",
                "colcrypt.validate(text,integer)", "colcrypt.cutover(text,text,boolean,interval,integer,interval)",
                "colcrypt.rollback(text,interval,integer)", "colcrypt.preflight(text)",
                "colcrypt.plaintext_residue(text)", "colcrypt.finalize(text,interval,integer)",
                "colcrypt.cleanup(text,interval,interval,integer)",
                "colcrypt.schedule_reencrypt(text,integer,interval)"}


def test_every_public_object_has_a_comment(conn):
    missing = conn.execute(f"""
        SELECT m.object FROM ({MEMBERS}) m
        WHERE m.kind IN ('pg_proc', 'pg_class', 'pg_namespace', 'pg_type')
          AND NOT (m.kind = 'pg_type')  -- row types of tables and views are covered by the relation
          AND obj_description(m.objid, m.kind) IS NULL
    """).fetchall()
    assert missing == []
    assert scalar(conn, "SELECT obj_description('colcrypt'::regnamespace, 'pg_namespace')")
    sql = Path(__file__).resolve().parents[2] / "sql"
    n_sources = len(list(sql.glob("functions/*.sql"))) + len(list(sql.glob("procedures/*.sql")))
    assert scalar(conn, f"SELECT count(*) FROM ({MEMBERS}) m WHERE m.kind = 'pg_proc'") == n_sources


def test_functions_pin_search_path(conn):
    unpinned = {r[0] for r in conn.execute("""
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'colcrypt'::regnamespace
          AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
    """).fetchall()}
    assert unpinned == HOT_PATH | SERVER_CALLED | COMMITS | CALLER_NAMES


def test_security_definers_are_the_guard_and_the_generated_trigger_functions(conn):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, ssn text)")
    conn.execute("SELECT colcrypt.prepare('t', ARRAY['ssn'], 'k')")
    definers = {r[0] for r in conn.execute("SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p"
                                           " WHERE pronamespace = 'colcrypt'::regnamespace AND prosecdef")}
    assert definers == EXTENSION_DEFINERS | {"colcrypt.dual_write_1()", "colcrypt.truncate_1()"}
    assert all(r[0] == ["search_path=pg_catalog, pg_temp"] for r in conn.execute(
        "SELECT proconfig FROM pg_proc WHERE pronamespace = 'colcrypt'::regnamespace AND prosecdef"))
    assert {r[0] for r in conn.execute("SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace ="
                                       " 'colcrypt'::regnamespace AND prosecdef"
                                       " AND has_function_privilege('public', oid, 'EXECUTE')")} == \
        {"colcrypt.column_context(regclass,text)"}


def test_the_extensions_security_definers(conn):
    assert {r[0] for r in conn.execute("SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace ="
                                       " 'colcrypt'::regnamespace AND prosecdef")} == EXTENSION_DEFINERS


def test_admin_functions_are_not_executable_by_public(conn):
    for fn in ("colcrypt.add_key(text,integer,text,text,bytea,bytea)", "colcrypt.grant_key(text,text)",
               "colcrypt.revoke_key(text,text)", "colcrypt._unwrap_key(text,integer,bytea)",
               "colcrypt.rewrap_key(text,integer,text,text,bytea,bytea)",
               "colcrypt.rotate_key(text,integer,text,text,bytea,bytea)", "colcrypt.destroy_key(text,integer)"):
        assert scalar(conn, "SELECT has_function_privilege('public', %s, 'EXECUTE')", (fn,)) is False, fn
    assert scalar(conn, "SELECT has_function_privilege('public', 'colcrypt.decrypt_column(bytea,text)', 'EXECUTE')")
    assert scalar(conn, "SELECT has_table_privilege('public', 'colcrypt.key_versions', 'UPDATE')") is False


def test_procedures_are_not_executable_by_public(conn):
    procedures = [r[0] for r in conn.execute("SELECT oid::regprocedure::text FROM pg_proc"
                                             " WHERE pronamespace = 'colcrypt'::regnamespace AND prokind = 'p'")]
    assert len(procedures) >= 2
    for proc in procedures:
        assert scalar(conn, "SELECT has_function_privilege('public', %s, 'EXECUTE')", (proc,)) is False, proc


def test_state_tables_travel_with_pg_dump(conn):
    assert scalar(conn, "SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM pg_extension,"
                        " unnest(extconfig) c WHERE extname = 'colcrypt'") == [
        "colcrypt.backfill_ranges", "colcrypt.baseline_comparisons", "colcrypt.baseline_comparisons_comparison_id_seq",
        "colcrypt.baselines", "colcrypt.discovery_findings", "colcrypt.discovery_runs",
        "colcrypt.discovery_runs_run_id_seq", "colcrypt.encrypted_columns", "colcrypt.key_grants",
        "colcrypt.key_versions", "colcrypt.migration_events", "colcrypt.migration_events_event_id_seq",
        "colcrypt.migrations", "colcrypt.migrations_migration_id_seq", "colcrypt.read_redirects",
        "colcrypt.validations",
        "colcrypt.validations_validation_id_seq"]


def test_baselines_are_for_dbas(conn):
    for fn in ("colcrypt.capture_baseline(text,interval,jsonb,jsonb,jsonb,boolean)",
               "colcrypt.compare_baseline(text,interval,jsonb,jsonb,jsonb)", "colcrypt.baseline_snapshot()"):
        assert scalar(conn, "SELECT has_function_privilege('public', %s, 'EXECUTE')", (fn,)) is False, fn
    assert scalar(conn, "SELECT has_table_privilege('public', 'colcrypt.baselines', 'SELECT')") is False
