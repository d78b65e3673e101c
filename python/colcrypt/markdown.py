"""Text from the database in Markdown (the report, the reference)."""


def escape(text: str) -> str:
    """Names and texts come from the database: markup in them shows as text, never as HTML or
    emphasis; a pipe does not end a table cell, a line break does not end a row."""
    text = text.replace("\\", "\\\\")
    for char in "*[]`|":
        text = text.replace(char, "\\" + char)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.splitlines())
