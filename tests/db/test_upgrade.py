"""ALTER EXTENSION colcrypt UPDATE from every released version: the catalog ends as a fresh install's, and a
migration in progress when the upgrade runs goes on to the end."""

import difflib
import itertools

import psycopg
import pytest

from colcrypt import __version__
from colcrypt.install import install
from colcrypt.keys import create_key

from .helpers import raises_sqlstate, scalar

RELEASED = ["0.1.0", "0.2.0"]
_names = itertools.count()

# One line per property of every object that belongs to the extension, without OIDs or data.
CATALOG = """
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'colcrypt'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend AS d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
UNION ALL
SELECT format('function %s: %s acl=%s comment=%s', p.oid::regprocedure, pg_get_functiondef(p.oid), p.proacl,
              obj_description(p.oid, 'pg_proc'))
FROM pg_proc AS p JOIN members AS m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL
SELECT format('relation %s kind=%s acl=%s options=%s comment=%s view=%s', c.oid::regclass, c.relkind, c.relacl,
              c.reloptions, obj_description(c.oid, 'pg_class'),
              CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END)
FROM pg_class AS c JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
UNION ALL
SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s acl=%s comment=%s', c.oid::regclass,
              a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attacl, col_description(c.oid, a.attnum))
FROM pg_class AS c JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef AS ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT format('constraint %s %s: %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
FROM pg_constraint AS co JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = co.conrelid
UNION ALL
SELECT format('index %s', pg_get_indexdef(i.indexrelid))
FROM pg_index AS i JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = i.indrelid
UNION ALL
SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
FROM pg_trigger AS t JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = t.tgrelid
WHERE NOT t.tgisinternal
UNION ALL
SELECT format('sequence %s %s %s %s %s %s', s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement,
              s.seqmax, s.seqcycle)
FROM pg_sequence AS s JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = s.seqrelid
UNION ALL
SELECT format('event trigger %s on %s runs %s tags=%s enabled=%s comment=%s', e.evtname, e.evtevent,
              e.evtfoid::regproc, e.evttags, e.evtenabled, obj_description(e.oid, 'pg_event_trigger'))
FROM pg_event_trigger AS e JOIN members AS m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid
UNION ALL
SELECT format('type %s comment=%s', t.oid::regtype, obj_description(t.oid, 'pg_type'))
FROM pg_type AS t JOIN members AS m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
UNION ALL
SELECT format('schema %s acl=%s comment=%s', n.nspname, n.nspacl, obj_description(n.oid, 'pg_namespace'))
FROM pg_namespace AS n WHERE n.nspname = 'colcrypt'
UNION ALL
SELECT format('config dump %s where %s', cfg.rel::regclass, cfg.cond)
FROM pg_extension AS x, unnest(x.extconfig, x.extcondition) AS cfg (rel, cond) WHERE x.extname = 'colcrypt'
"""


def catalog(conn) -> list[str]:
    return sorted(row[0] for row in conn.execute(CATALOG))


def _database(cluster, version: str | None) -> psycopg.Connection:
    name = f"upgrade{next(_names)}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as su:
        su.execute(f'CREATE DATABASE "{name}"')
    conn = psycopg.connect(cluster.dsn(name), autocommit=True)
    if version is None:
        install(conn)
    else:
        conn.execute(f"CREATE EXTENSION colcrypt VERSION '{version}' CASCADE")
    return conn


def _assert_same_catalog(upgraded, fresh):
    want, got = catalog(fresh), catalog(upgraded)
    assert len(want) > 200, "the catalog query found too little to compare"
    assert got == want, "\n".join(difflib.unified_diff(want, got, "fresh install", "after upgrade", lineterm=""))


@pytest.mark.parametrize("released", RELEASED)
def test_upgrade_ends_with_the_catalog_of_a_fresh_install(cluster, released):
    with _database(cluster, None) as fresh, _database(cluster, released) as old:
        assert scalar(old, "SELECT extversion FROM pg_extension WHERE extname = 'colcrypt'") == released
        assert catalog(old) != catalog(fresh), "the released version should differ from the current one"
        assert install(old) == f"updated extension colcrypt {released} -> {__version__}"
        assert scalar(old, "SELECT extversion FROM pg_extension WHERE extname = 'colcrypt'") == __version__
        _assert_same_catalog(old, fresh)


def test_the_catalog_comparison_sees_a_difference(cluster):
    with _database(cluster, None) as fresh, _database(cluster, None) as changed:
        assert catalog(changed) == catalog(fresh)
        changed.execute("COMMENT ON FUNCTION colcrypt.verify_audit() IS 'changed'")
        with pytest.raises(AssertionError, match="verify_audit"):
            _assert_same_catalog(changed, fresh)


def _values(conn) -> list[tuple]:
    return conn.execute("SELECT id, email, ssn FROM patients ORDER BY id").fetchall()


def test_a_migration_in_progress_survives_the_upgrade(cluster):
    with _database(cluster, "0.1.0") as conn:
        create_key(conn, "k", kek_file=cluster.kek_file)
        conn.execute("SELECT colcrypt.grant_key('k', 'postgres')")
        conn.execute("CREATE TABLE patients (id int PRIMARY KEY, email text, ssn text)")
        conn.execute("INSERT INTO patients SELECT g, 'p' || g || '@example.com', to_char(g, 'FM000-00-0000') "
                     "FROM generate_series(1, 5000) AS g")
        conn.execute("SELECT * FROM colcrypt.prepare('patients', ARRAY['email', 'ssn'], 'k')")
        conn.execute("CALL colcrypt.backfill('patients', p_batch_size => 500, p_max_runtime => '1 microsecond')")
        copied = scalar(conn, "SELECT rows_done FROM colcrypt.progress")
        assert 0 < copied < 5000, copied
        conn.execute("UPDATE patients SET email = 'before-upgrade@example.com' WHERE id = 4000")
        events_before = conn.execute("SELECT event_id, event, detail FROM colcrypt.migration_events "
                                     "ORDER BY event_id").fetchall()

        assert install(conn) == f"updated extension colcrypt 0.1.0 -> {__version__}"

        # the rows logged under 0.1.0 are unchanged and chained; the keyring made before it logged its changes
        # is recorded (0.2.1: each keyring row names its event); new ones join the chain
        after = conn.execute("SELECT event_id, event, detail FROM colcrypt.migration_events"
                             " ORDER BY event_id").fetchall()
        assert after[:len(events_before)] == events_before
        assert [e[1] for e in after[len(events_before):]] == ["key version recorded", "key grant recorded"]
        assert scalar(conn, "SELECT count(*) FROM colcrypt.key_versions k JOIN colcrypt.migration_events e"
                            " ON e.event_id = k.logged_as") == 1
        events, _, _, problem = conn.execute("SELECT * FROM colcrypt.verify_audit()").fetchone()
        assert (events, problem) == (len(after), None)
        events_before = after
        conn.execute("UPDATE patients SET ssn = NULL WHERE id = 4001")
        conn.execute("DELETE FROM patients WHERE id = 4002")
        conn.execute("INSERT INTO patients VALUES (9999, 'after-upgrade@example.com', '999-99-9999')")
        conn.execute("CALL colcrypt.backfill('patients')")
        assert scalar(conn, "SELECT percent FROM colcrypt.progress") == 100
        result = conn.execute("SELECT total, valid, missing, mismatched, passed FROM colcrypt.validate('patients')")
        assert result.fetchone() == (5000, 5000, 0, 0, True)
        expected = _values(conn)
        conn.execute("SELECT * FROM colcrypt.cutover('patients', 'reads')")
        assert _values(conn) == expected
        assert scalar(conn, "SELECT email FROM patients WHERE id = 4000") == "before-upgrade@example.com"
        assert scalar(conn, "SELECT ssn FROM patients WHERE id = 4001") is None
        events, _, _, problem = conn.execute("SELECT * FROM colcrypt.verify_audit()").fetchone()
        assert problem is None and events > len(events_before)
        with raises_sqlstate("KC026"):
            conn.execute("DELETE FROM colcrypt.migration_events WHERE event_id = %s", (events_before[0][0],))

        # the upgraded catalog is a fresh install's, a migration in progress notwithstanding
        with _database(cluster, None) as fresh:
            _assert_same_catalog(conn, fresh)


@pytest.mark.parametrize("suffix", ["_owner", " Owner"], ids=["plain", "quoted"])
def test_migrations_of_0_2_0_take_the_owners_rights_and_keep_going(cluster, suffix):
    """A migration 0.2.0 cut over for reads: the shadow and the generated functions were the DBA's, so the owner's
    code ran with the DBA's rights, and the table's readers kept reading <table>_plaintext. The update gives them
    to the owner (refused, changing nothing, until the owner may use the key) and takes the readers' rights to
    the plaintext table; the migration then goes on to its end."""
    with _database(cluster, "0.2.0") as conn:
        name = conn.info.dbname
        owner, app = f"{name}{suffix}", f"{name}_app"
        rendered = owner if suffix == "_owner" else f'"{owner}"'  # as regrole renders it
        conn.execute(f'CREATE ROLE "{owner}" LOGIN; CREATE ROLE "{app}" LOGIN;'
                     f' CREATE SCHEMA app AUTHORIZATION "{owner}"; GRANT USAGE ON SCHEMA app TO "{app}"')
        create_key(conn, "k", kek_file=cluster.kek_file)
        conn.execute("SELECT colcrypt.grant_key('k', 'postgres'), colcrypt.grant_key('k', %s)", (app,))
        with psycopg.connect(cluster.dsn(name), user=owner, autocommit=True) as o:
            o.execute("CREATE TABLE app.t (id serial PRIMARY KEY, ssn text);"
                      "INSERT INTO app.t (ssn) SELECT 'ssn-' || g::text FROM generate_series(1, 100) g;"
                      f'GRANT SELECT, INSERT, UPDATE ON app.t TO "{app}";'
                      f' GRANT USAGE ON SEQUENCE app.t_id_seq TO "{app}"')
        conn.execute("SELECT FROM colcrypt.prepare('app.t', ARRAY['ssn'], 'k')")
        conn.execute("CALL colcrypt.backfill('app.t')")
        conn.execute("SELECT FROM colcrypt.validate('app.t')")
        conn.execute("SELECT FROM colcrypt.cutover('app.t', 'reads', p_force => true)")  # the owner has no key
        # this tree's code serves the 0.2.0 schema as 0.2.0 did: the shadow and the functions are the DBA's
        assert conn.execute("SELECT relowner::regrole::text FROM pg_class WHERE oid = 'app.t_encrypted'::regclass"
                            " UNION ALL SELECT DISTINCT proowner::regrole::text FROM pg_proc WHERE proname IN"
                            " ('dual_write_1', 'truncate_1', 'instead_1')").fetchall() == [("postgres",), ("postgres",)]
        # and 0.2.0 left the table's grants on the plaintext table
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON app.t_plaintext TO "{app}"')
        with psycopg.connect(cluster.dsn(name, user=app), autocommit=True) as a:  # writes work before the update
            a.execute("UPDATE app.t SET ssn = 'before the update' WHERE id = 1")
        before = catalog(conn)
        with raises_sqlstate("42501", "may not use their migration's key") as info:
            install(conn)
        assert f"SELECT colcrypt.grant_key('k', '{rendered}');" in info.value.diag.message_hint
        assert catalog(conn) == before and scalar(conn, "SELECT extversion FROM pg_extension"
                                                        " WHERE extname = 'colcrypt'") == "0.2.0"
        conn.execute("SELECT colcrypt.grant_key('k', %s)", (rendered,))
        assert install(conn) == f"updated extension colcrypt 0.2.0 -> {__version__}"
        owners = conn.execute("SELECT relowner::regrole::text FROM pg_class WHERE oid = 'app.t_encrypted'::regclass"
                              " UNION ALL SELECT DISTINCT proowner::regrole::text FROM pg_proc WHERE proname IN"
                              " ('dual_write_1', 'truncate_1', 'instead_1')").fetchall()
        assert owners == [(rendered,), (rendered,)]
        with psycopg.connect(cluster.dsn(name, user=app), autocommit=True) as a:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                a.execute("SELECT ssn FROM app.t_plaintext")
            a.execute("INSERT INTO app.t (ssn) VALUES ('after the update')")
            assert scalar(a, "SELECT ssn FROM app.t WHERE id = 101") == "after the update"
        for step in ("SELECT FROM colcrypt.cutover('app.t', 'writes')", "SELECT FROM colcrypt.finalize('app.t')",
                     "SELECT FROM colcrypt.cleanup('app.t', '0')"):
            conn.execute(step)
            assert scalar(conn, "SELECT pg_get_serial_sequence('app.t', 'id')") == "app.t_id_seq", step
        assert scalar(conn, "SELECT count(*) FROM app.t") == 101
        with _database(cluster, None) as fresh:
            _assert_same_catalog(conn, fresh)
        conn.execute(f'DROP OWNED BY "{owner}" CASCADE; DROP OWNED BY "{app}"')
    with psycopg.connect(cluster.dsn(), autocommit=True) as su:
        su.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        su.execute(f'DROP ROLE "{owner}"; DROP ROLE "{app}"')
