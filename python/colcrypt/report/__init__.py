"""`colcrypt report`: a compliance report of colcrypt's catalog for PCI DSS / HIPAA auditors.

collect.collect(conn) reads the data (a JSON-serializable dict); render(report, format) formats it as
Markdown, HTML or JSON (docs/report.md)."""

import json

FORMATS = {"markdown": "md", "html": "html", "json": "json"}  # format -> file extension


def render(report: dict, fmt: str) -> str:
    from colcrypt.report import html, markdown

    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    return {"markdown": markdown.render, "html": html.render}[fmt](report)
