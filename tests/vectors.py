"""The test vectors published in docs/format.md (its last ```json block)."""

import json
from pathlib import Path

FORMAT_DOC = Path(__file__).resolve().parent.parent / "docs" / "format.md"


def load() -> dict:
    text = FORMAT_DOC.read_text()
    block = text[text.rindex("```json") + len("```json"):]
    return json.loads(block[:block.index("```")])
