"""The live application of `make demo`: the pharmacy's back end (colcrypt.demo.sample) in N worker
threads, each with its own connection, writing and reading through the tables' names only, in short
paced transactions, and keeping a ledger of everything it committed.

Connection: each worker connects with the dsn it is given and runs `SET ROLE demo_app`, so the dsn's
user must be a member of demo_app (a superuser is); everything then runs with the application's
privileges (and its key grant, once the names decrypt).

Ownership: worker w of n owns the customers that existed at start() with customer_id % n == w, with
all their payment methods, prescriptions and orders, and every row it inserts. A customer's rows go
with it (its deletion cascades to them), so no two workers ever write the same row.

The ledger: at start() each worker records a digest (md5 of the row's text) of every row it owns;
after each commit, the values RETURNING gave for every row it wrote, and which rows it deleted
(cascaded ones too: it reads a customer's rows before deleting it). Reads compare what the name
returns with the ledger. lost() compares the ledger with every row of the targets. Not checked:
rx.order_lines (not a target; only its cascade from deleted orders is), updated_at, created_at.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

from psycopg import sql
from psycopg.rows import tuple_row

from colcrypt.demo.tables import TABLES, Table
from colcrypt.demo.worker import Worker

KEEP_ERRORS = 5


@dataclass
class Stats:
    committed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)        # the first few: "SQLSTATE: message (operation)"
    operations: dict[str, int] = field(default_factory=dict)   # committed transactions per operation
    wrong_reads: int = 0
    wrong: list[str] = field(default_factory=list)         # the first few wrong reads
    max_ms: float = 0.0
    p99_ms: float = 0.0
    tps: float = 0.0
    seconds: float = 0.0


class Load:
    """Start, pause, resume and stop the application; its statistics and the check of its ledger."""

    def __init__(self, dsn: str, workers: int = 2, seed: int = 1, tps: float = 200.0):
        if workers < 1 or tps <= 0:
            raise ValueError("workers must be >= 1 and tps > 0")
        self.dsn, self.seed, self.interval = dsn, seed, workers / tps
        self.workers = [Worker(self, w, workers) for w in range(workers)]
        self._cond = threading.Condition()
        self._paused = self._stopped = False
        self._in_transaction = 0
        self._stats = Stats()
        self._latencies = array("d")
        self._ops: Counter = Counter()
        self._started = self._ended = self._paused_at = None
        self._paused_s = 0.0        # not counted in transactions/s
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Connect every worker, record the rows it owns, then let them run."""
        try:
            for w in self.workers:
                w.connect()
            loaders = [threading.Thread(target=w.record_owned) for w in self.workers]
            for t in loaders:
                t.start()
            for t in loaders:
                t.join()
            for w in self.workers:
                if w.startup_error:
                    raise w.startup_error
        except BaseException:
            self._close()
            raise
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=w.run, name=f"demo-load-{w.index}", daemon=True)
                         for w in self.workers]
        for t in self._threads:
            t.start()

    def pause(self) -> None:
        """Returns once every worker is between transactions; they stay there until resume()."""
        with self._cond:
            if not self._paused:
                self._paused, self._paused_at = True, time.monotonic()
            self._cond.wait_for(lambda: self._in_transaction == 0)

    def resume(self) -> None:
        with self._cond:
            if self._paused:
                self._paused_s += time.monotonic() - self._paused_at
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> Stats:
        self.resume()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()
        if self._ended is None and self._started is not None:
            self._ended = time.monotonic()
        self._close()
        return self.snapshot()

    def snapshot(self) -> Stats:
        with self._cond:
            s = Stats(**{**self._stats.__dict__, "errors": list(self._stats.errors),
                         "wrong": list(self._stats.wrong), "operations": dict(self._ops)})
            latencies = sorted(self._latencies)
            now = self._ended or time.monotonic()
            paused = self._paused_s + (now - self._paused_at if self._paused else 0.0)
        if latencies:
            s.max_ms, s.p99_ms = latencies[-1], latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if self._started is not None:
            s.seconds = now - self._started - paused
            s.tps = s.committed / s.seconds if s.seconds > 0 else 0.0
        return s

    def lost(self, conn) -> list[str]:
        """Every row of the targets that differs from the ledger (missing, extra, different, or
        deleted but present), read through the names with conn (whose role needs the key once the
        names decrypt). Call it after stop() or while paused; an empty list: nothing lost."""
        problems: list[str] = []
        for table in TABLES:
            written: dict = {}
            original: dict = {}
            for w in self.workers:
                written.update(w.rows[table.name])
                original.update(w.original[table.name])
            original = {k: d for k, d in original.items() if k not in written}
            query = sql.SQL("SELECT {}, {} FROM {}").format(table.names(), table.digest, table.ident)
            n = len(table.key)
            for row in conn.cursor(row_factory=tuple_row).stream(query):
                key, values, digest = tuple(row[:n]), tuple(row[n:-1]), row[-1]
                if key in written:
                    want = written.pop(key)
                    if want is None:
                        problems.append(f"{table.name} {key}: deleted, but present: {_show(table, values)}")
                    elif values != want:
                        diff = {c: (w, g) for c, w, g in zip(table.columns, want, values, strict=True) if w != g}
                        problems.append(f"{table.name} {key}: (expected, found) {diff}")
                elif key in original:
                    if bytes(original.pop(key)) != bytes(digest):
                        problems.append(f"{table.name} {key}: changed, but never written by the application: "
                                        f"{_show(table, values)}")
                else:
                    problems.append(f"{table.name} {key}: a row the application never wrote: {_show(table, values)}")
            problems += [f"{table.name} {key}: missing, last written as {_show(table, want)}"
                         for key, want in written.items() if want is not None]
            problems += [f"{table.name} {key}: missing, never written by the application" for key in original]
        return problems

    # used by the workers
    def worker_begins(self) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: not self._paused or self._stopped)
            if self._stopped:
                return False
            self._in_transaction += 1
            return True

    def worker_ends(self, op: str | None, ms: float, error: str | None, wrong: list[str]) -> None:
        with self._cond:
            self._in_transaction -= 1
            s = self._stats
            if error is None:
                s.committed += 1
                self._ops[op] += 1
                self._latencies.append(ms)
            else:
                s.failed += 1
                if len(s.errors) < KEEP_ERRORS:
                    s.errors.append(error)
            s.wrong_reads += len(wrong)
            s.wrong += wrong[:KEEP_ERRORS - len(s.wrong)]
            self._cond.notify_all()

    def _close(self) -> None:
        for w in self.workers:
            w.close()


def _show(table: Table, values) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(table.columns, values, strict=True))
