"""The report as one self-contained HTML page: inline CSS, no script, nothing loaded from elsewhere,
every text escaped."""

from html import escape

from colcrypt.report.outline import TITLE, Subheading, Table, Text, outline

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 80em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #333; } h2 { margin-top: 2em; border-bottom: 1px solid #aaa; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; } td { word-break: break-word; }
p.ok { color: #155724; } p.bad { color: #a00; font-weight: bold; } p.note { color: #555; font-style: italic; }
"""


def render(report: dict) -> str:
    title = f"{TITLE}: {report['generated']['database']}"
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>{escape(title)}</h1>"]
    for section in outline(report):
        parts.append(f"<section>\n<h2>{escape(section.title)}</h2>")
        parts += [_block(b) for b in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _block(block) -> str:
    if isinstance(block, Subheading):
        return f"<h3>{escape(block.text)}</h3>"
    if isinstance(block, Text):
        css = f' class="{block.tone}"' if block.tone else ""
        return f"<p{css}>{escape(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in block.headers)
        body = "\n".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    raise TypeError(block)
