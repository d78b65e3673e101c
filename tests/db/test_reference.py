"""docs/reference.md is rendered from the catalog's comments: every object needs one, and the
committed file must match what the installed extension renders."""

from pathlib import Path

from colcrypt.reference import members, render

REFERENCE = Path(__file__).resolve().parents[2] / "docs/reference.md"

# Objects allowed to go without a comment, each with the reason. Keep it empty.
UNCOMMENTED = {}


def test_every_extension_object_has_a_comment(conn):
    missing = {m.identity for m in members(conn) if not (m.comment or "").strip()} - set(UNCOMMENTED)
    assert not missing, f"add COMMENT ON for these objects of the extension: {sorted(missing)}"


def test_reference_is_up_to_date(conn):
    assert render(conn) == REFERENCE.read_text(), "docs/reference.md is out of date: run make reference"


def test_every_column_of_the_extensions_tables_and_views_has_a_comment(conn):
    missing = [r[0] for r in conn.execute("""
        SELECT c.oid::regclass::text || '.' || a.attname
        FROM pg_depend AS d
        JOIN pg_class AS c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid AND c.relkind IN ('r', 'v')
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
          AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'colcrypt')
          AND coalesce(col_description(c.oid, a.attnum), '') = ''
        ORDER BY 1""")]
    assert not missing, f"add COMMENT ON COLUMN (sql/comments/columns.sql) for: {missing}"
