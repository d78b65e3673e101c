"""The report as Markdown (GitHub flavour): headings, paragraphs and pipe tables."""

from colcrypt.markdown import escape
from colcrypt.report.outline import TITLE, Subheading, Table, Text, outline

MARKS = {"ok": "", "bad": "**", "note": "_"}


def render(report: dict) -> str:
    lines = [f"# {TITLE}", ""]
    for section in outline(report):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _block(block) + [""]
    return "\n".join(lines)


def _block(block) -> list[str]:
    if isinstance(block, Subheading):
        return [f"### {escape(block.text)}"]
    if isinstance(block, Text):
        mark = MARKS.get(block.tone, "")
        return [f"{mark}{escape(block.text)}{mark}"]
    if isinstance(block, Table):
        return [_row(block.headers), _row(["---"] * len(block.headers)), *(_row(r) for r in block.rows)]
    raise TypeError(block)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(escape(c) for c in cells) + " |"

