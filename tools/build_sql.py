#!/usr/bin/env python3
"""Build extension/colcrypt--VERSION.sql from sql/ in the order of sql/load_order.

--check: exit 1 (and say so) when the committed script differs from what sql/ builds.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ('-- Built by `make build` from sql/ (see sql/load_order). Do not edit.\n'
          '\\echo Use "CREATE EXTENSION colcrypt CASCADE" to load this file. \\quit\n')


def sources() -> list[Path]:
    lines = (ROOT / "sql/load_order").read_text().splitlines()
    return [ROOT / "sql" / line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build() -> str:
    return HEADER + "".join(f"\n-- sql/{p.relative_to(ROOT / 'sql')}\n{p.read_text()}" for p in sources())


def main() -> int:
    version = sys.argv[sys.argv.index("--version") + 1]
    target = ROOT / f"extension/colcrypt--{version}.sql"
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != build():
            print(f"{target.relative_to(ROOT)} is out of date: run make build", file=sys.stderr)
            return 1
        return 0
    target.write_text(build())
    return 0


if __name__ == "__main__":
    sys.exit(main())
