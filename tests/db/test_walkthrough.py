"""docs/walkthrough.md stays true: its sql blocks run, in order, in one session of a fresh database.

A block is skipped when the line just before its fence is `<!-- not run: reason -->`; psql
meta-commands (lines starting with a backslash) are left out. The walk-through's shell steps are not
run, except the two that change the keyring, which are done here through the functions the CLI calls.
"""

import re
from pathlib import Path

import psycopg
import pytest

from colcrypt.keys import create_key, rotate_key

WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs/walkthrough.md"
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!-- not run: (.+) -->$")

CLI_STEPS = {
    "colcrypt keys create crm-pii": lambda conn, db: create_key(conn, "crm-pii", kek_file=db.kek_file),
    "colcrypt keys rotate crm-pii": lambda conn, db: rotate_key(conn, "crm-pii", kek_file=db.kek_file),
}

# Quoted strings, quoted identifiers, comments and dollar-quoted bodies are kept whole, so that only
# the semicolons between statements split.
SQL_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|(\$\w*\$).*?\1|;|\s+|[^'"$;/\s-]+|.""",
                       re.S)


def blocks(text: str) -> list[tuple[str, str, str | None, int]]:
    """(language, body, why it is not run or None, line number of the fence) of every fenced block."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marker = NOT_RUN.match(lines[i - 1]) if i else None
            found.append((opening.group(1), "\n".join(lines[i + 1:end]), marker and marker.group(1), i + 1))
            i = end
        i += 1
    return found


def statements(sql: str) -> list[str]:
    """The statements of a block, without psql meta-command lines and without empty ones."""
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("\\"))
    found, current, has_code = [], [], False
    for token in SQL_TOKEN.finditer(sql):
        text = token.group(0)
        if text == ";":
            if has_code:
                found.append("".join(current).strip())
            current, has_code = [], False
            continue
        current.append(text)
        has_code = has_code or not (text.isspace() or text.startswith(("--", "/*")))
    if has_code:
        found.append("".join(current).strip())
    return found


@pytest.fixture
def crm_app_dropped_after(db):
    """The walk-through creates the role crm_app; roles are the cluster's, so it goes afterwards."""
    yield
    with db.connect() as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'crm_app'").fetchone():
            conn.execute("DROP OWNED BY crm_app")
            conn.execute("DROP ROLE crm_app")


def test_statements_split_only_between_statements():
    sql = "SELECT ';' AS a; -- x; y\n\\x on\nDO $$ BEGIN PERFORM 1; END $$;\n/* ; */ SELECT \"a;b\" FROM t"
    assert statements(sql) == ["SELECT ';' AS a", "-- x; y\nDO $$ BEGIN PERFORM 1; END $$",
                               '/* ; */ SELECT "a;b" FROM t']


def test_every_not_run_marker_is_on_a_fence():
    lines = WALKTHROUGH.read_text().splitlines()
    for n, line in enumerate(lines):
        if line.startswith("<!-- not run"):
            assert NOT_RUN.match(line) and FENCE.match(lines[n + 1]), f"line {n + 1}: {line}"


@pytest.mark.slow  # two ten-second baseline windows
def test_walkthrough_sql_runs_in_order(db, crm_app_dropped_after):
    runnable = 0
    with db.connect() as conn:
        for language, body, not_run, line in blocks(WALKTHROUGH.read_text()):
            if language == "sh":
                for command, step in CLI_STEPS.items():
                    if command in body:
                        step(conn, db)
            if language != "sql" or not_run:
                continue
            runnable += 1
            for statement in statements(body):
                try:
                    conn.execute(statement)
                except psycopg.Error as error:
                    pytest.fail(f"docs/walkthrough.md, the sql block at line {line} failed: {error}\n"
                                f"statement: {statement}\nblock:\n{body}")
    assert runnable > 20
