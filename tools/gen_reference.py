#!/usr/bin/env python3
"""Write docs/reference.md: the extension's objects and their comments, from a throwaway cluster.

--check: write nothing; exit 1 with a diff when docs/reference.md is not what the extension renders.
"""

import difflib
import sys
from pathlib import Path

import psycopg

from colcrypt.cluster import throwaway
from colcrypt.install import install
from colcrypt.reference import render

REFERENCE = Path(__file__).resolve().parent.parent / "docs/reference.md"


def rendered() -> str:
    cluster = throwaway("colcrypt-reference-")
    try:
        cluster.init_with_local_kek()
        cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            install(conn)
            return render(conn)
    finally:
        cluster.destroy()


def main() -> int:
    text = rendered()
    committed = REFERENCE.read_text() if REFERENCE.exists() else ""
    if "--check" not in sys.argv:
        if text != committed:
            REFERENCE.write_text(text)
        print(f"colcrypt: {REFERENCE} {'written' if text != committed else 'is up to date'}")
        return 0
    if text == committed:
        return 0
    sys.stdout.writelines(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                               "docs/reference.md (committed)", "docs/reference.md (rendered)"))
    print("docs/reference.md is out of date: run make reference", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
