"""Small helpers for the PL/Python shims (they receive plpy; nothing here imports it)."""


def interval_seconds(plpy, interval: str | None) -> float | None:
    """An interval argument (PL/Python passes it as text) in seconds; None stays None."""
    if interval is None:
        return None
    return plpy.execute(plpy.prepare("SELECT extract(epoch FROM $1)::float8 AS s", ["interval"]),
                        [interval])[0]["s"]
