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
