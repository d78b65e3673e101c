#!/usr/bin/env python3
"""Build the extension's scripts from sql/.

extension/colcrypt--VERSION.sql comes from the files listed in sql/load_order, and each upgrade script
into VERSION, extension/colcrypt--FROM--VERSION.sql, from those listed in sql/upgrades/FROM--VERSION.order.
Scripts of released versions (listed with their SHA-256 in extension/released.sha256) are frozen: never
built again, so that editing a routine's file never changes what was shipped.

--check: exit 1 (and say so) when a committed script differs from what sql/ builds, or a released one
from its recorded hash.
"""

import hashlib
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


RELEASED = ROOT / "extension/released.sha256"


def released() -> dict[Path, str]:
    """The released scripts, by path, with their recorded SHA-256."""
    lines = [line.split() for line in RELEASED.read_text().splitlines() if line.strip()]
    return {ROOT / "extension" / name: digest for digest, name in lines}


def scripts(version: str) -> dict[Path, str]:
    """Every script sql/ builds for version (its install script and the upgrades into it), by path."""
    built = {ROOT / f"extension/colcrypt--{version}.sql":
             build(ROOT / "sql/load_order", "CREATE EXTENSION colcrypt CASCADE")}
    for manifest in sorted((ROOT / "sql/upgrades").glob(f"*--{version}.order")):
        steps = manifest.name.removesuffix(".order")
        built[ROOT / f"extension/colcrypt--{steps}.sql"] = build(
            manifest, f"ALTER EXTENSION colcrypt UPDATE TO '{version}'")
    frozen = set(built) & set(released())
    if frozen:
        raise SystemExit(f"{', '.join(p.name for p in sorted(frozen))} released: bump VERSION before changing sql/")
    return built


def changed_releases() -> list[Path]:
    """Released scripts that are missing or no longer what was shipped."""
    return [p for p, digest in released().items()
            if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != digest]


def main() -> int:
    version = sys.argv[sys.argv.index("--version") + 1]
    built = scripts(version)
    if "--check" in sys.argv:
        stale = [p for p, text in built.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run make build", file=sys.stderr)
        for path in changed_releases():
            print(f"{path.relative_to(ROOT)} was released and must not change", file=sys.stderr)
        return 1 if stale or changed_releases() else 0
    for path, text in built.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
