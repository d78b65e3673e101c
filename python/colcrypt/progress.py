"""A one-line progress bar on stderr for long CLI steps; plain periodic lines when not a terminal."""

import sys
import time


class Progress:
    def __init__(self, label: str, total: float, unit: str = "", width: int = 30):
        self.label, self.total, self.unit, self.width = label, total, unit, width
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self._last_line = 0.0

    def update(self, done: float, extra: str = "") -> None:
        now, done = time.monotonic(), float(done)  # counts from SQL sums arrive as Decimal
        fraction = min(1.0, done / self.total) if self.total else 1.0
        elapsed = now - self.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
        bar = "#" * int(self.width * fraction) + "-" * (self.width - int(self.width * fraction))
        text = f"{self.label} [{bar}] {100 * fraction:5.1f}%  {done:,.0f}/{self.total:,.0f}{self.unit}" \
               f"  eta {eta:4.0f}s {extra}"
        if self.tty:
            sys.stderr.write("\r" + text)
            sys.stderr.flush()
        elif now - self._last_line >= 10 or fraction >= 1:
            sys.stderr.write(text + "\n")
            self._last_line = now

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
