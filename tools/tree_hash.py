#!/usr/bin/env python3
"""The SHA-256 of what `make install` puts on the server from this tree: the extension's scripts and
control file, the C sources, and the Python package PL/Python imports (with its requirements).
make install records it (installed.sha256 beside the server-side Python); the test suite compares it
with the tree's, so that it never tests the code of an earlier install.

  tree_hash.py            print the tree's hash
  tree_hash.py --python   the hash of the Python package alone (the name of its release directory)
"""

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ["python/colcrypt/**/*.py", "python/server-requirements.txt"]
EXTENSION = ["extension/*.sql", "extension/*.control", "extension/Makefile", "extension/src/*.c",
             "extension/src/*.h"]


def tree_hash(patterns: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted({p for pattern in patterns for p in ROOT.glob(pattern)}):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


if __name__ == "__main__":
    print(tree_hash(PYTHON if "--python" in sys.argv else PYTHON + EXTENSION))
