"""Small helpers for the PL/Python shims (they receive plpy; nothing here imports it)."""


def interval_seconds(plpy, interval: str | None) -> float | None:
    """An interval argument (PL/Python passes it as text) in seconds; None stays None."""
    if interval is None:
        return None
    return plpy.execute(plpy.prepare("SELECT extract(epoch FROM $1)::float8 AS s", ["interval"]),
                        [interval])[0]["s"]


def fail(plpy, sqlstate: str, message: str, hint: str) -> None:
    """Raise a colcrypt error from PL/Python: its SQLSTATE, "colcrypt: message", and the HINT.
    PL/Python prefixes an uncaught exception's message with its class name ("plpy.Error: ..."),
    so the class is named colcrypt and passes as a builtin: the prefix becomes our own."""
    error = type("colcrypt", (plpy.Error,), {"__module__": "builtins"})(message.removeprefix("colcrypt: "))
    error.sqlstate, error.hint = sqlstate, hint
    raise error
