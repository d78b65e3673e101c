"""Replaying a workload file from the client: its statements run in turn, each in its own
transaction, by a few concurrent connections for a fixed time, and every call is timed."""

import random
import threading
import time
from pathlib import Path

import psycopg

from colcrypt.errors import ColcryptError
from colcrypt.progress import Progress

SAMPLE = 20000


def statements(path: Path) -> list[str]:
    """The statements of a workload file: SQL separated by ';' at the end of a line; '--' comment
    lines and blank lines ignored. (So a DO block or function body with ';' at line ends must be
    written on one line.)"""
    try:
        text = path.read_text()
    except OSError as e:
        raise ColcryptError("58P01" if isinstance(e, FileNotFoundError) else "58030",
                            f"cannot read workload file {path}: {e.strerror}",
                            "Pass a readable file of SQL statements, each ending with ';'.") from e
    result, current = [], []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            result.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        result.append("\n".join(current))
    if not result:
        raise ColcryptError("KC008", f"workload file {path} has no statements",
                            "Write one SQL statement per line (or several lines), each ending with ';'.")
    return result


def replay(dsn: str, sql: list[str], seconds: float, clients: int = 2, progress: bool = True) -> dict:
    """Run the statements round-robin on `clients` connections for `seconds`; return the client
    timings ({"latencies_ms": [...], "errors": n, "first_error": text})."""
    latencies: list[float] = []
    errors = [0]
    first_error: list[str] = []
    lock = threading.Lock()
    connect_errors: list[psycopg.Error] = []
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        mine, failed = [], 0
        try:
            conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as e:
            with lock:
                connect_errors.append(e)
            return
        with conn:
            i = offset
            while time.monotonic() < deadline:
                statement = sql[i % len(sql)]
                i += 1
                started = time.perf_counter()
                try:
                    cur = conn.execute(statement)
                    if cur.description is not None:
                        cur.fetchall()
                except psycopg.Error as e:
                    failed += 1
                    with lock:
                        if not first_error:
                            first_error.append(str(e).splitlines()[0])
                    continue
                mine.append(1000.0 * (time.perf_counter() - started))
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    bar = Progress("replaying workload", seconds, "s") if progress else None
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        if bar:
            bar.update(min(seconds, seconds - max(0.0, deadline - time.monotonic())))
    if bar:
        bar.close()
    if connect_errors:
        raise connect_errors[0]
    calls = len(latencies)
    if calls > SAMPLE:  # the percentiles of a uniform sample, so the server gets a bounded document
        latencies = random.Random(42).sample(latencies, SAMPLE)  # noqa: S311 - sampling, not secrets
    return {"latencies_ms": latencies, "calls": calls, "errors": errors[0],
            "first_error": first_error[0] if first_error else None}
