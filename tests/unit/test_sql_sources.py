"""Rules for sql/: every function states its properties, errors carry SQLSTATE and HINT, and the
committed extension script is what sql/ builds."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import colcrypt

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_FILES = sorted((ROOT / "sql/functions").glob("*.sql"))
PROCEDURE_FILES = sorted((ROOT / "sql/procedures").glob("*.sql"))


def test_every_function_file_is_in_the_load_order():
    order = (ROOT / "sql/load_order").read_text()
    for f in FUNCTION_FILES + PROCEDURE_FILES:
        assert f"{f.parent.name}/{f.name}" in order, f"{f.name} missing from sql/load_order"


@pytest.mark.parametrize("path", PROCEDURE_FILES, ids=lambda p: p.name)
def test_procedure_declares_its_properties(path):
    sql = path.read_text()
    head = sql[sql.index("CREATE OR REPLACE PROCEDURE"):]
    head = head[:re.search(r"^AS ", head, re.M).start()]
    assert re.search(r"\bSECURITY INVOKER\b", head), "SECURITY INVOKER (a SECURITY DEFINER procedure cannot COMMIT)"
    assert re.search(r"^-- security: INVOKER\. \S", sql, re.M), "a '-- security:' comment saying why"
    assert re.search(r"^-- search_path: ", sql, re.M), "a '-- search_path:' comment (a SET clause forbids COMMIT)"
    assert re.search(r"^COMMENT ON PROCEDURE ", sql, re.M), "COMMENT ON PROCEDURE"


@pytest.mark.parametrize("path", FUNCTION_FILES, ids=lambda p: p.name)
def test_function_declares_its_properties(path):
    sql = path.read_text()
    head = sql[sql.index("CREATE OR REPLACE FUNCTION"):]
    head = head[:re.search(r"^AS ", head, re.M).start()]
    assert re.search(r"\b(VOLATILE|STABLE|IMMUTABLE)\b", head), "volatility"
    assert re.search(r"\b(STRICT|CALLED ON NULL INPUT|RETURNS NULL ON NULL INPUT)\b", head), "NULL behaviour"
    assert re.search(r"\bPARALLEL (SAFE|RESTRICTED|UNSAFE)\b", head), "PARALLEL"
    assert re.search(r"\bSECURITY (INVOKER|DEFINER)\b", head), "SECURITY"
    assert re.search(r"^-- security: (INVOKER|DEFINER)\. \S", sql, re.M), "a '-- security:' comment saying why"
    assert "SET search_path = pg_catalog, pg_temp" in head or re.search(r"^-- search_path: ", sql, re.M), \
        "search_path pinned, or a '-- search_path:' comment saying why not"
    assert re.search(r"^COMMENT ON FUNCTION ", sql, re.M), "COMMENT ON FUNCTION"


def test_every_raise_has_errcode_and_hint():
    for path in sorted((ROOT / "sql").rglob("*.sql")):
        for raise_ in re.findall(r"RAISE EXCEPTION.*?;", path.read_text(), re.S):
            assert "ERRCODE = '" in raise_ and "HINT = " in raise_, f"{path.name}: {raise_[:80]}"
            assert "P0001" not in raise_


def test_c_errors_for_users_have_codes_and_hints():
    for path in sorted((ROOT / "extension/src").glob("*.c")):
        for call in re.findall(r"ereport\(ERROR,.*?\)\);", path.read_text(), re.S):
            assert "errcode(" in call, f"{path.name}: {call[:80]}"
            if "ERRCODE_INTERNAL_ERROR" not in call:
                assert "errhint(" in call or "seal_error" in call, f"{path.name}: {call[:100]}"


def test_extension_script_is_built_from_sql():
    result = subprocess.run([sys.executable, str(ROOT / "tools/build_sql.py"), "--version", colcrypt.__version__,
                             "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", FUNCTION_FILES + PROCEDURE_FILES, ids=lambda p: p.name)
def test_routine_file_can_come_again_in_an_upgrade(path):
    """A changed routine's file goes into the next version's upgrade script as it is: CREATE OR REPLACE,
    and nothing in it that cannot run twice (triggers live in sql/triggers/)."""
    assert not re.search(r"^CREATE (FUNCTION|PROCEDURE|TRIGGER|EVENT TRIGGER|TABLE|VIEW|INDEX|SEQUENCE)\b",
                         path.read_text(), re.M)
