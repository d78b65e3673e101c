"""Every colcrypt SQLSTATE raised anywhere is in the catalogue and in docs/errors.md."""

import re
from pathlib import Path

from colcrypt.errors import BY_SQLSTATE

ROOT = Path(__file__).resolve().parents[2]


def _raised() -> set[str]:
    codes = set()
    for path in [*ROOT.glob("sql/**/*.sql"), *ROOT.glob("python/colcrypt/**/*.py"), *ROOT.glob("extension/src/*.[ch]")]:
        text = path.read_text()
        codes |= set(re.findall(r"\bKC\d{3}\b", text))
        codes |= {"".join(m) for m in re.findall(r"MAKE_SQLSTATE\('(K)','(C)','(\d)','(\d)','(\d)'\)", text)}
    return codes


def test_every_raised_code_is_catalogued_and_documented():
    raised = _raised()
    assert len(raised) >= 13
    documented = set(re.findall(r"^\| `(KC\d{3})` \|", (ROOT / "docs/errors.md").read_text(), re.M))
    assert raised <= set(BY_SQLSTATE), raised - set(BY_SQLSTATE)
    assert raised <= documented, raised - documented
    assert {c for c in BY_SQLSTATE if c.startswith("KC")} == documented
