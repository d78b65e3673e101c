#!/usr/bin/env python3
"""Build the extension's scripts from sql/.

extension/colcrypt--VERSION.sql comes from the files listed in sql/load_order; each upgrade script
extension/colcrypt--FROM--TO.sql from those listed in sql/upgrades/FROM--TO.order. The install scripts of
released versions older than VERSION are kept as released and not built.

--check: exit 1 (and say so) when a committed script differs from what sql/ builds.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ('-- Built by `make build` from sql/ (see {manifest}). Do not edit.\n'
          '\\echo Use "{use}" to load this file. \\quit\n')


def sources(manifest: Path) -> list[Path]:
    lines = manifest.read_text().splitlines()
    return [ROOT / "sql" / line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build(manifest: Path, use: str) -> str:
    header = HEADER.format(manifest=manifest.relative_to(ROOT), use=use)
    return header + "".join(f"\n-- sql/{p.relative_to(ROOT / 'sql')}\n{p.read_text()}" for p in sources(manifest))


def scripts(version: str) -> dict[Path, str]:
    """Every script sql/ builds, by its path in extension/."""
    built = {ROOT / f"extension/colcrypt--{version}.sql":
             build(ROOT / "sql/load_order", "CREATE EXTENSION colcrypt CASCADE")}
    for manifest in sorted((ROOT / "sql/upgrades").glob("*.order")):
        steps = manifest.name.removesuffix(".order")
        target = steps.split("--")[1]
        built[ROOT / f"extension/colcrypt--{steps}.sql"] = build(
            manifest, f"ALTER EXTENSION colcrypt UPDATE TO '{target}'")
    return built


def main() -> int:
    version = sys.argv[sys.argv.index("--version") + 1]
    built = scripts(version)
    if "--check" in sys.argv:
        stale = [p for p, text in built.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run make build", file=sys.stderr)
        return 1 if stale else 0
    for path, text in built.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
